package io.kvasir.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Predicate;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;

/**
 * {@code bench kv}'s gets between hosts: a kv-store member in another network namespace
 * ({@link VethNamespace}), this JVM its client over gRPC only (the shared-memory path is off, as it
 * is between pods on different nodes), and over the same link the bare gRPC stream and plain TCP.
 * The member keeps no backup, so every block is on it and every get crosses the link.
 */
final class KvBenchBetweenHosts {
    private static final int MEMBER_PORT = 5931;

    private KvBenchBetweenHosts() {
    }

    /**
     * The figures, or {@code {"skipped": reason}}. With {@code certs} (a directory {@code kvasir certs}
     * wrote), puts and gets are measured again through a second member that takes mutual TLS only.
     */
    static Map<String, Object> run(List<byte[]> payloads, List<List<BlockKey>> rounds, int batch, int reps,
            BenchCertificates certs, PrintStream err) throws Exception {
        String unavailable = VethNamespace.unavailable();
        if (unavailable != null) {
            return Map.of("skipped", unavailable);
        }
        VethNamespace ns;
        try {
            ns = VethNamespace.create();
        } catch (IOException e) {
            return Map.of("skipped", e.getMessage());
        }
        List<Process> processes = new ArrayList<>();
        try (ns) {
            String peer = ns.peerAddress();
            Rounds plain = memberRounds(ns, processes, MEMBER_PORT, null, payloads, rounds.getFirst(), batch, reps, err);
            Rounds tls = certs == null ? null
                    : memberRounds(ns, processes, MEMBER_PORT + 1, certs, payloads, rounds.get(1), batch, reps, err);
            int blockBytes = payloads.getFirst().length;
            Started grpcServer = start(processes, ns.exec(java(GrpcStreamBaseline.class, peer,
                    Integer.toString(blockBytes))), line -> line.matches("\\d+"));
            double[] grpc;
            try (GrpcStreamBaseline remote = GrpcStreamBaseline.remote(peer, Integer.parseInt(grpcServer.line()))) {
                grpc = KvBench.grpcRounds(remote, payloads.size(), batch, reps, err);
            }
            Started sink = start(processes, ns.exec(java(TcpSink.class, peer)), line -> line.matches("\\d+"));
            double[] tcp = KvBench.tcpRounds(peer, Integer.parseInt(sink.line()), reps, err);

            double get = KvBench.median(plain.get());
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("get_grpc_gbps", KvBench.round2(get));
            result.put("put_gbps", KvBench.round2(plain.put()));
            result.put("grpc_gbps", KvBench.round2(KvBench.median(grpc)));
            result.put("tcp_gbps", KvBench.round2(KvBench.median(tcp)));
            result.put("get_grpc_vs_grpc", KvBench.round2(get / KvBench.median(grpc)));
            result.put("get_grpc_vs_tcp", KvBench.round2(get / KvBench.median(tcp)));
            if (tls != null) {
                double tlsGet = KvBench.median(tls.get());
                result.put("tls", Map.of("get_grpc_gbps", KvBench.round2(tlsGet), "put_gbps", KvBench.round2(tls.put()),
                        "get_grpc_vs_plaintext", KvBench.round2(tlsGet / get),
                        "put_vs_plaintext", KvBench.round2(tls.put() / plain.put())));
            }
            result.put("link", "veth pair into network namespace, " + peer);
            return result;
        } finally {
            for (Process p : processes) {
                p.destroyForcibly();
                p.waitFor();
            }
        }
    }

    /** GB/s of one put of every block, and of each get round after the warm-up. */
    private record Rounds(double put, double[] get) {
    }

    /**
     * A member in the namespace (backup count 0, so every block is on it and every get crosses the
     * link; mutual TLS with {@code certs}, or plaintext): every block put once, then got back in rounds.
     */
    private static Rounds memberRounds(VethNamespace ns, List<Process> processes, int port, BenchCertificates certs,
            List<byte[]> payloads, List<BlockKey> keys, int batch, int reps, PrintStream err) throws Exception {
        String peer = ns.peerAddress();
        long total = 0;
        for (byte[] p : payloads) {
            total += p.length;
        }
        String cluster = "kvasir-bench-ns-" + UUID.randomUUID();
        Started member = startMember(ns, processes, port, cluster, Math.max(1L << 30, 2 * total), certs);
        KvBench.progress(err, "  between namespaces: member at " + peer + " (pid " + member.process().pid() + ")"
                + (certs == null ? "" : ", mutual TLS"));
        Tls tls = BenchCertificates.load(certs, Role.DECODE);
        double[] get = new double[reps];
        try (KvStoreClient client = KvStoreClient.connect(List.of(member.grpcAddress()), tls)
                .withoutSharedMemory()) {
            long t0 = System.nanoTime();
            for (int from = 0; from < payloads.size(); from += batch) {
                int to = Math.min(payloads.size(), from + batch);
                client.put("bench", keys.subList(from, to), payloads.subList(from, to));
            }
            double put = total / ((System.nanoTime() - t0) / 1e9) / 1e9;
            KvBench.progress(err, String.format("  put between namespaces %.2f GB/s", put));
            for (int r = 0; r < reps + 1; r++) {
                long t1 = System.nanoTime();
                long got = KvBench.getAll(client, keys, payloads.size(), batch);
                long t2 = System.nanoTime();
                if (got != total) {
                    throw new IllegalStateException("bench kv: got " + got + " bytes back from the namespace, put "
                            + total);
                }
                if (r > 0) {
                    get[r - 1] = total / ((t2 - t1) / 1e9) / 1e9;
                    KvBench.progress(err, String.format("  round %d: get between namespaces %.2f GB/s", r, get[r - 1]));
                }
            }
            return new Rounds(put, get);
        } finally {
            if (tls != null) {
                tls.close();
            }
        }
    }

    /**
     * A kv-store member in {@code ns} on {@code port}, alone in {@code cluster} with backup count 0 (every
     * block is on it, every get crosses the link); it takes mutual TLS only when {@code certs} is given.
     */
    static Started startMember(VethNamespace ns, List<Process> processes, int port, String cluster, long hostBudget,
            BenchCertificates certs) throws IOException {
        List<String> command = new ArrayList<>(java(Kvasir.class, "kv-store", "--name", "bench-ns-" + port, "--host",
                ns.peerAddress(), "--port", Integer.toString(port), "--grpc-port", "0", "--metrics-port", "0",
                "--replication-port", "0", "--cluster", cluster, "--backup-count", "0", "--host-budget", Long.toString(hostBudget)));
        if (certs != null) {
            command.addAll(List.of("--tls-dir", certs.dir().toString()));
        }
        return start(processes, ns.exec(command), line -> line.startsWith("kv-store member "));
    }

    static List<String> java(Class<?> main, String... args) {
        List<String> command = new ArrayList<>(ProcessCluster.javaCommand(main));
        command.addAll(List.of(args));
        return command;
    }

    /** A process and the line it printed when ready. */
    record Started(Process process, String line) {
        /** The gRPC address a kv-store member's ready line names ("kv-store member NAME: gRPC H:P, ..."). */
        String grpcAddress() {
            int at = line.indexOf("gRPC ");
            int end = line.indexOf(',', at);
            if (at < 0 || end < 0) {
                throw new IllegalStateException("no gRPC address in the member's line: " + line);
            }
            return line.substring(at + 5, end);
        }
    }

    /** Starts a process and waits (60 s at most) for the line that says it is ready; its output keeps draining. */
    static Started start(List<Process> processes, List<String> command, Predicate<String> ready)
            throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        processes.add(p);
        BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        java.util.concurrent.CompletableFuture<String> line = new java.util.concurrent.CompletableFuture<>();
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        Thread.ofPlatform().daemon().name("bench-ns-output").start(() -> {
            try {
                for (String l; (l = lines.readLine()) != null; ) {
                    seen.add(l);
                    if (!line.isDone() && ready.test(l.trim())) {
                        line.complete(l.trim());
                    }
                }
            } catch (IOException e) {
                // the process is gone
            }
            line.complete(null);
        });
        String found;
        try {
            found = line.get(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            found = null;
        }
        if (found == null) {
            throw new IOException(String.join(" ", command.subList(0, Math.min(6, command.size()))) + "… did not start: "
                    + String.join(" | ", seen.subList(Math.max(0, seen.size() - 5), seen.size())));
        }
        return new Started(p, found);
    }
}
