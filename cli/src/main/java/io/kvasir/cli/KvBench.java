package io.kvasir.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

import com.google.gson.Gson;

import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.block.KvBlock;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.store.KvStoreMember;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;

/**
 * {@code kvasir bench kv}: a real 3-member store on loopback (backup count 1 by default) in this process, the
 * client nodes use, blocks the size of one block of the 1B model's KV; puts and gets them in
 * batches, and measures in the same run the two ceilings: a plain TCP stream between two processes
 * on loopback, and memcpy.
 */
final class KvBench {
    static final String USAGE = """
            usage: kvasir bench kv [--blocks 256] [--batch 32] [--reps 5] [--layers 16] [--kv-dim 512]
                                   [--block-tokens 16] [--dtype f16] [--backup-count 1] [--tls] [--no-namespace] [--json]
              defaults: one block of the Llama-3.2-1B shape (16 layers, 8 KV heads x 64), f16: 512 KiB of values.
              As root (Linux, iproute2), it also gets between two network namespaces joined by a veth pair:
              a member in the other namespace, gRPC only ("between_namespaces"); --no-namespace skips that.
              --backup-count 0 shows what the synchronous backup costs a put; --tls measures puts and gRPC gets again
              with mutual TLS (a development CA), in the same run.""";

    private static final Set<String> VALUES = Set.of("blocks", "batch", "reps", "layers", "kv-dim", "block-tokens",
            "dtype", "backup-count");
    private static final Set<String> FLAGS = Set.of("json", "no-namespace", "tls");

    private KvBench() {
    }

    static void run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args a = Args.parse("bench kv", argv, VALUES, FLAGS);
        int blocks = a.integer("blocks", 256);
        int batch = a.integer("batch", 32);
        int reps = a.integer("reps", 5);
        boolean json = a.has("json");
        int kvDim = a.positive("kv-dim", 512);
        if (kvDim % 64 != 0) {
            throw new Args.UsageException("bench kv: --kv-dim must be a multiple of 64 (heads of 64), got " + kvDim);
        }
        BlockLayout layout;
        try {
            layout = BlockLayout.attention(CacheDType.fromId(a.string("dtype", "f16")), a.integer("block-tokens", 16),
                    a.integer("layers", 16), kvDim / 64, 64);
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("bench kv: " + e.getMessage());
        }
        int backups = a.integer("backup-count", 1);
        if (backups < 0 || backups > 2) {
            throw new Args.UsageException("bench kv: --backup-count must be 0, 1 or 2 (3 members), got " + backups);
        }
        if (blocks <= 0 || batch <= 0 || reps <= 0) {
            throw new Args.UsageException("bench kv: --blocks, --batch and --reps must be > 0");
        }

        List<byte[]> payloads = new ArrayList<>();
        for (int i = 0; i < blocks; i++) {
            payloads.add(BlockCodec.encode(randomBlock(layout, i)));
        }
        long blockBytes = payloads.getFirst().length;
        progress(err, "bench kv: " + blocks + " blocks of " + blockBytes + " bytes (" + layout.dtype().id() + ", "
                + layout.layers() + " layers x " + layout.tokens() + " tokens x " + layout.firstWidth()
                + "), batches of " + batch + ", 3 members, backup count " + backups);

        List<List<BlockKey>> rounds = new ArrayList<>();
        for (int r = 0; r < reps + 1; r++) {
            byte[] salt = ("bench-" + r).getBytes(StandardCharsets.UTF_8);
            rounds.add(BlockKeys.chain(BlockKeys.root("bench", 1, layout.dtype(), salt), tokens(blocks * layout.tokens()),
                    layout.tokens()));
        }
        StoreRounds plain = storeRounds(payloads, rounds, batch, backups, null, err);
        StoreRounds withTls = null;
        BenchCertificates certs = a.has("tls") ? BenchCertificates.create() : null;
        if (certs != null) {
            progress(err, "bench kv: the same with mutual TLS between client and members");
            withTls = storeRounds(payloads, rounds, batch, backups, certs, err);
        }
        double[] put = plain.put();
        double[] get = plain.get();
        double[] getGrpc = plain.getGrpc();
        double[] grpc = grpcBaseline((int) blockBytes, blocks, batch, reps, err);
        double[] tcp = tcpBaseline(reps, err);
        double[] memcpy = memcpy(reps);
        Map<String, Object> betweenHosts;
        try {
            betweenHosts = a.has("no-namespace") ? Map.of("skipped", "--no-namespace")
                    : KvBenchBetweenHosts.run(payloads, rounds, batch, reps, certs, err);
        } finally {
            if (certs != null) {
                certs.close();
            }
        }

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("get_gbps", round2(median(get)));
        result.put("put_gbps", round2(median(put)));
        result.put("tcp_gbps", round2(median(tcp)));
        result.put("memcpy_gbps", round2(median(memcpy)));
        result.put("get_grpc_gbps", round2(median(getGrpc)));
        result.put("grpc_gbps", round2(median(grpc)));
        result.put("get_grpc_vs_grpc", round2(median(getGrpc) / median(grpc)));
        result.put("get_vs_tcp", round2(median(get) / median(tcp)));
        result.put("backup_count", backups);
        result.put("block_bytes", blockBytes);
        result.put("blocks", blocks);
        result.put("batch", batch);
        result.put("reps", reps);
        if (withTls != null) {
            Map<String, Object> tls = new LinkedHashMap<>();
            tls.put("put_gbps", round2(median(withTls.put())));
            tls.put("get_grpc_gbps", round2(median(withTls.getGrpc())));
            tls.put("put_vs_plaintext", round2(median(withTls.put()) / median(put)));
            tls.put("get_grpc_vs_plaintext", round2(median(withTls.getGrpc()) / median(getGrpc)));
            result.put("tls", tls);
        }
        result.put("between_namespaces", betweenHosts);
        if (json) {
            out.println(new Gson().toJson(result));
        } else {
            out.printf("%-8s %10s%n", "", "GB/s (median)");
            out.printf("%-8s %10.2f%n", "put", median(put));
            out.printf("%-8s %10.2f   (%.0f%% of TCP; same host: shared memory)%n", "get", median(get),
                    100 * median(get) / median(tcp));
            out.printf("%-8s %10.2f   (%.0f%% of TCP; gRPC only)%n", "get-grpc", median(getGrpc),
                    100 * median(getGrpc) / median(tcp));
            out.printf("%-8s %10.2f   (a bare gRPC stream of block-sized messages, no store: get-grpc is %.0f%% of it)%n",
                    "grpc", median(grpc), 100 * median(getGrpc) / median(grpc));
            out.printf("%-8s %10.2f   (plain TCP stream, two processes, loopback)%n", "tcp", median(tcp));
            out.printf("%-8s %10.2f%n", "memcpy", median(memcpy));
            if (withTls != null) {
                out.printf("with mutual TLS: put %.2f, get-grpc %.2f GB/s (%.0f%% and %.0f%% of plaintext)%n",
                        median(withTls.put()), median(withTls.getGrpc()), 100 * median(withTls.put()) / median(put),
                        100 * median(withTls.getGrpc()) / median(getGrpc));
            }
            if (betweenHosts.containsKey("skipped")) {
                out.println("between network namespaces: skipped (" + betweenHosts.get("skipped") + ")");
            } else {
                out.printf("between network namespaces (a veth pair): get-grpc %.2f, grpc %.2f, tcp %.2f GB/s%n",
                        betweenHosts.get("get_grpc_gbps"), betweenHosts.get("grpc_gbps"), betweenHosts.get("tcp_gbps"));
            }
        }
    }

    /** GB/s of each round after the warm-up: puts, gets (same-host path allowed) and gets through gRPC only. */
    private record StoreRounds(double[] put, double[] get, double[] getGrpc) {
    }

    /**
     * A 3-member store in this process (mutual TLS with the certificates in {@code certs}, or plaintext
     * when null): every round's puts first, then every round's gets, each phase in its steady state (in
     * one JVM with the members, a get phase right after a put phase paid for growing the heap the
     * put's blocks had filled: single rounds ranged 1.4-6 GB/s by where that fell).
     */
    private static StoreRounds storeRounds(List<byte[]> payloads, List<List<BlockKey>> rounds, int batch, int backups,
            BenchCertificates certs, PrintStream err) throws Exception {
        int reps = rounds.size() - 1;
        int blocks = payloads.size();
        long totalBytes = 0;
        for (byte[] p : payloads) {
            totalBytes += p.length;
        }
        double[] put = new double[reps];
        double[] get = new double[reps];
        double[] getGrpc = new double[reps];
        String cluster = "kvasir-bench-" + UUID.randomUUID();
        List<String> peers = List.of("127.0.0.1:5901", "127.0.0.1:5902", "127.0.0.1:5903");
        List<KvStoreMember> members = new ArrayList<>();
        List<Tls> identities = new ArrayList<>();
        try {
            Tls memberTls = BenchCertificates.load(certs, Role.KV_STORE);
            Tls clientTls = BenchCertificates.load(certs, Role.DECODE);
            if (certs != null) {
                identities.addAll(List.of(memberTls, clientTls));
            }
            // host budget: every round's blocks fit, and so do they in each member's same-host arena (a quarter)
            for (int m = 0; m < 3; m++) {
                members.add(KvStoreMember.start(StoreConfig.local().withCluster(cluster).withPorts(5901 + m, 0)
                        .withPeers(peers).withBackupCount(backups)
                        .withHostBudget(Math.max(1L << 30, 4 * (reps + 1) * totalBytes)), memberTls));
            }
            List<String> store = members.stream().map(KvStoreMember::grpcAddress).toList();
            try (KvStoreClient client = KvStoreClient.connect(store, clientTls);
                    KvStoreClient grpcOnly = KvStoreClient.connect(store, clientTls).withoutSharedMemory()) {
                for (int r = 0; r < reps + 1; r++) { // round 0 warms up
                    List<BlockKey> keys = rounds.get(r);
                    long t0 = System.nanoTime();
                    for (int from = 0; from < blocks; from += batch) {
                        int to = Math.min(blocks, from + batch);
                        client.put("bench", keys.subList(from, to), payloads.subList(from, to));
                    }
                    long t1 = System.nanoTime();
                    if (r > 0) {
                        put[r - 1] = totalBytes / ((t1 - t0) / 1e9) / 1e9;
                        progress(err, String.format("  round %d: put %.2f GB/s", r, put[r - 1]));
                    }
                }
                for (int r = 0; r < reps + 1; r++) {
                    List<BlockKey> keys = rounds.get(r);
                    long t1 = System.nanoTime();
                    long got = getAll(client, keys, blocks, batch);
                    long t2 = System.nanoTime();
                    long gotGrpc = getAll(grpcOnly, keys, blocks, batch);
                    long t3 = System.nanoTime();
                    if (got != totalBytes || gotGrpc != totalBytes) {
                        throw new IllegalStateException("bench kv: got " + got + " / " + gotGrpc + " bytes back, put "
                                + totalBytes);
                    }
                    if (r > 0) {
                        get[r - 1] = totalBytes / ((t2 - t1) / 1e9) / 1e9;
                        getGrpc[r - 1] = totalBytes / ((t3 - t2) / 1e9) / 1e9;
                        progress(err, String.format("  round %d: get %.2f GB/s (gRPC only %.2f)", r, get[r - 1],
                                getGrpc[r - 1]));
                    }
                }
            }
        } finally {
            members.forEach(KvStoreMember::kill);
            identities.forEach(Tls::close);
        }
        return new StoreRounds(put, get, getGrpc);
    }

    /** Gets every block in batches; the bytes received. */
    static long getAll(KvStoreClient client, List<BlockKey> keys, int blocks, int batch) throws Exception {
        long got = 0;
        for (int from = 0; from < blocks; from += batch) {
            for (ByteBuffer b : client.get("bench", keys.subList(from, Math.min(blocks, from + batch)))) {
                if (b == null) {
                    throw new IllegalStateException("bench kv: a block just put is missing");
                }
                got += b.remaining();
            }
        }
        return got;
    }

    private static KvBlock randomBlock(BlockLayout layout, int seed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        List<ByteBuffer> columns = new java.util.ArrayList<>();
        for (int c = 0; c < layout.columns(); c++) {
            byte[] bytes = new byte[(int) layout.columnBytes(c)];
            random.nextBytes(bytes);
            columns.add(ByteBuffer.wrap(bytes));
        }
        return new KvBlock("bench", layout, columns);
    }

    private static int[] tokens(int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + (i * 7919 + 13) % 32000;
        }
        return t;
    }

    /** The same bytes in the same batches through a bare gRPC stream ({@link GrpcStreamBaseline}); round 0 warms up. */
    private static double[] grpcBaseline(int blockBytes, int blocks, int batch, int reps, PrintStream err) throws IOException {
        try (GrpcStreamBaseline grpc = new GrpcStreamBaseline(blockBytes)) {
            return grpcRounds(grpc, blocks, batch, reps, err);
        }
    }

    static double[] grpcRounds(GrpcStreamBaseline grpc, int blocks, int batch, int reps, PrintStream err) {
        double[] gbps = new double[reps];
        for (int r = 0; r < reps + 1; r++) {
            long t0 = System.nanoTime();
            long got = 0;
            for (int from = 0; from < blocks; from += batch) {
                got += grpc.fetch(Math.min(batch, blocks - from));
            }
            long t1 = System.nanoTime();
            if (r > 0) {
                gbps[r - 1] = got / ((t1 - t0) / 1e9) / 1e9;
                progress(err, String.format("  round %d: bare gRPC stream %.2f GB/s", r, gbps[r - 1]));
            }
        }
        return gbps;
    }

    /** 1 GiB through a loopback socket into a second JVM, in 1 MiB writes. */
    private static double[] tcpBaseline(int reps, PrintStream err) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process sink = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), TcpSink.class.getName())
                .redirectErrorStream(true).start();
        try {
            BufferedReader lines = new BufferedReader(new InputStreamReader(sink.getInputStream(), StandardCharsets.UTF_8));
            return tcpRounds("127.0.0.1", Integer.parseInt(lines.readLine().trim()), reps, err);
        } finally {
            sink.destroyForcibly();
            sink.waitFor();
        }
    }

    /** Rounds of 1 GiB to a {@link TcpSink} at {@code host:port}; round 0 warms up. */
    static double[] tcpRounds(String host, int port, int reps, PrintStream err) throws IOException {
        long bytes = 1L << 30;
        ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
        double[] gbps = new double[reps];
        for (int r = 0; r < reps + 1; r++) {
            try (SocketChannel ch = SocketChannel.open(new InetSocketAddress(host, port))) {
                long t0 = System.nanoTime();
                ch.write(ByteBuffer.allocate(8).putLong(0, bytes));
                for (long sent = 0; sent < bytes; sent += chunk.capacity()) {
                    chunk.clear();
                    while (chunk.hasRemaining()) {
                        ch.write(chunk);
                    }
                }
                ByteBuffer ack = ByteBuffer.allocate(1);
                while (ack.hasRemaining() && ch.read(ack) >= 0) {
                    // waiting for the sink to have read everything
                }
                long t1 = System.nanoTime();
                if (r > 0) {
                    gbps[r - 1] = bytes / ((t1 - t0) / 1e9) / 1e9;
                    progress(err, String.format("  tcp round %d: %.2f GB/s", r, gbps[r - 1]));
                }
            }
        }
        return gbps;
    }

    /** Copies of a 256 MiB heap array. */
    private static double[] memcpy(int reps) {
        byte[] src = new byte[256 << 20];
        byte[] dst = new byte[src.length];
        Arrays.fill(src, (byte) 1);
        double[] gbps = new double[reps];
        for (int r = 0; r < reps + 1; r++) {
            long t0 = System.nanoTime();
            System.arraycopy(src, 0, dst, 0, src.length);
            long t1 = System.nanoTime();
            if (r > 0) {
                gbps[r - 1] = src.length / ((t1 - t0) / 1e9) / 1e9;
            }
        }
        return gbps;
    }

    static void progress(PrintStream err, String line) {
        err.println(line);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
