package io.kvasir.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.google.gson.Gson;

import io.kvasir.decode.DecodeEngine;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.store.KvStoreMember;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.PrefixCache;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;

/**
 * {@code kvasir bench prefix}: what a cached prefix is worth to time-to-first-token. One node computes
 * a long prefix and stores its KV; then, per round, a prompt of that prefix plus new tokens is answered
 * four ways: by a fresh node that fetches the prefix from the store over gRPC (shared memory off, the
 * path between hosts; the member in another network namespace when this process may create one) as
 * whole blocks, by another that fetches it layer by layer ({@code --kv-load by-layer}: computing while
 * later layers arrive), by the first node again with the prefix now in its local tier, and by a node
 * with no cache at all.
 */
final class PrefixBench {
    static final String USAGE = """
            usage: kvasir bench prefix [--model bench|builtin|long|PATH] [--prefix-tokens 8192] [--new-tokens 256]
                                       [--reps 3] [--threads N] [--block-size 16] [--kv-cache-dtype auto]
                                       [--tls] [--no-namespace] [--json]
              TTFT of a prompt whose first --prefix-tokens are cached: fetched from the store (gRPC only) as whole
              blocks and layer by layer, from the node's local tier, and recomputed. As root the store member runs in another network namespace.
              --tls: each round also fetches the prefix from a second member over mutual TLS.""";

    private static final Set<String> VALUES = Set.of("model", "prefix-tokens", "new-tokens", "reps", "threads",
            "block-size", "kv-cache-dtype", "cache-dir");
    private static final Set<String> FLAGS = Set.of("json", "no-namespace", "tls");
    private static final String TENANT = "bench";
    /** Held so its level sticks: an in-process store member warns as it is killed at the end. */
    private static final Logger HAZELCAST = Logger.getLogger("com.hazelcast");

    private PrefixBench() {
    }

    static void run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args a = Args.parse("bench prefix", argv, VALUES, FLAGS);
        int prefixTokens = a.positive("prefix-tokens", 8192);
        int newTokens = a.positive("new-tokens", 256);
        int reps = a.positive("reps", 3);
        int blockSize = a.positive("block-size", 16);
        if (prefixTokens < blockSize) {
            throw new Args.UsageException("bench prefix: --prefix-tokens " + prefixTokens + " is less than one block of "
                    + blockSize + " tokens: nothing would be cached");
        }
        Path cacheDir = Path.of(a.string("cache-dir", System.getProperty("user.home") + "/.cache/kvasir"));
        Path modelPath = switch (a.string("model", "bench")) {
            case "bench" -> BuiltinModel.ensure(cacheDir, WorkloadBench.BENCH_MODEL);
            case "long" -> BuiltinModel.ensure(cacheDir, WorkloadBench.LONG_MODEL);
            case "builtin" -> BuiltinModel.ensure(cacheDir);
            default -> Path.of(a.string("model", null));
        };
        try (var backend = new VectorCpuBackend(a.positive("threads", VectorCpuBackend.defaultThreads()));
                Model model = Model.load(modelPath, backend)) {
            int context = model.transformer().config().contextLength();
            if (prefixTokens + 2 * newTokens + 1 > context) {
                throw new Args.UsageException("bench prefix: --prefix-tokens " + prefixTokens + " plus twice --new-tokens "
                        + newTokens + " exceed the model's context of " + context + " tokens");
            }
            KvCacheType type = KvCacheTypes.of("bench prefix", a.string("kv-cache-dtype", "auto"), model);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("model", modelPath.getFileName().toString());
            result.put("prefix_tokens", prefixTokens);
            result.put("new_tokens", newTokens);
            result.put("kv_cache_dtype", type.id());
            try (BenchCertificates certs = a.has("tls") ? BenchCertificates.create() : null;
                    StoreUnderTest store = StoreUnderTest.start(!a.has("no-namespace"), prefixTokens, null, 5951, err);
                    StoreUnderTest tlsStore = certs == null ? null
                            : StoreUnderTest.start(!a.has("no-namespace"), prefixTokens, certs, 5952, err)) {
                HAZELCAST.setLevel(Level.SEVERE);
                result.put("link", store.link());
                result.putAll(measure(model, store.client(), tlsStore == null ? null : tlsStore.client(), type,
                        blockSize, prefixTokens, newTokens, reps, err));
            }
            if (a.has("json")) {
                out.println(new Gson().toJson(result));
            } else {
                out.printf("TTFT of %d cached + %d new tokens (%s KV, store over %s), median of %d:%n", prefixTokens,
                        newTokens, type.id(), result.get("link"), reps);
                out.printf("  prefix from the store   %8.0f ms%n", (double) result.get("ttft_store_ms"));
                out.printf("    ... layer by layer    %8.0f ms%n", (double) result.get("ttft_store_by_layer_ms"));
                if (result.get("tls") instanceof Map<?, ?> tls) {
                    out.printf("    ... with mutual TLS   %8.0f ms%n", (double) tls.get("ttft_store_ms"));
                }
                out.printf("  prefix from local tier  %8.0f ms%n", (double) result.get("ttft_local_ms"));
                out.printf("  prefix recomputed       %8.0f ms%n", (double) result.get("ttft_recompute_ms"));
                out.printf("  store / local %.2f (by layer %.2f), store / recompute %.2f; %d KV bytes fetched at %.2f"
                        + " GB/s%n", result.get("store_vs_local"), result.get("by_layer_vs_local"),
                        result.get("store_vs_recompute"), result.get("prefix_kv_bytes"), result.get("fetch_gbps"));
            }
        }
    }

    /** The rounds; with {@code tlsClient}, each also fetches the prefix from a second store over mutual TLS. */
    private static Map<String, Object> measure(Model model, KvStoreClient client, KvStoreClient tlsClient,
            KvCacheType type, int blockSize, int prefixTokens, int newTokens, int reps, PrintStream err)
            throws Exception {
        int vocab = model.transformer().config().vocabSize();
        int[] prefix = tokens(prefixTokens, 0, vocab);
        // room for two sequences on the shared prefix: the local-tier run keeps the first one's blocks
        int blocks = 2 * ((prefixTokens + 2 * newTokens) / blockSize + 4);
        double[] store = new double[reps];
        double[] byLayer = new double[reps];
        double[] local = new double[reps];
        double[] recompute = new double[reps];
        double[] overTls = new double[reps];
        int cached;
        long kvBytes;
        try (StorePrefixCache cache = NodeCaches.storeCache(client, model, blockSize, type);
                StorePrefixCache layerCache = NodeCaches.storeCache(client, model, blockSize, type).loadingByLayer();
                StorePrefixCache tlsCache = tlsClient == null ? null : NodeCaches.storeCache(tlsClient, model, blockSize, type);
                DecodeEngine writer = new DecodeEngine(model, cache, blockSize, blocks, 4, 64);
                DecodeEngine uncached = new DecodeEngine(model, PrefixCache.none(type), blockSize, blocks, 4, 64)) {
            KvBench.progress(err, "bench prefix: computing and storing the " + prefixTokens + "-token prefix");
            ttft(writer, concat(prefix, tokens(newTokens, 1, vocab)), 0, "first");
            cache.flush();
            if (tlsCache != null) {
                try (DecodeEngine tlsWriter = new DecodeEngine(model, tlsCache, blockSize, blocks, 4, 64)) {
                    ttft(tlsWriter, concat(prefix, tokens(newTokens, 1, vocab)), 0, "first over TLS");
                }
                tlsCache.flush();
            }
            cached = prefixTokens / blockSize * blockSize;
            kvBytes = writer.pool().bytesPerToken() * cached;
            for (int r = 0; r <= reps; r++) { // round 0 warms up
                int[] first = concat(prefix, tokens(newTokens, 2 + 2 * r, vocab));
                int[] second = concat(prefix, tokens(newTokens, 3 + 2 * r, vocab));
                Run fromStore = null;
                Run fromLocal = null;
                Run layered = null;
                for (int order = 0; order < 2; order++) { // alternate which path goes first
                    if ((order + r) % 2 == 0) {
                        try (DecodeEngine fresh = new DecodeEngine(model, new LoadOnly(cache), blockSize, blocks, 4, 64)) {
                            fromStore = ttft(fresh, first, cached, "store");
                            fromLocal = ttft(fresh, second, cached, "local tier");
                        }
                    } else {
                        try (DecodeEngine fresh = new DecodeEngine(model, new LoadOnly(layerCache), blockSize, blocks, 4,
                                64)) {
                            layered = ttft(fresh, first, cached, "store, layer by layer");
                        }
                    }
                }
                Run viaTls = null;
                if (tlsCache != null) {
                    try (DecodeEngine fresh = new DecodeEngine(model, tlsCache, blockSize, blocks, 4, 64)) {
                        viaTls = ttft(fresh, first, cached, "store over TLS");
                    }
                }
                Run computed = ttft(uncached, first, 0, "recompute");
                if (viaTls != null && viaTls.token() != computed.token()) {
                    throw new IllegalStateException("bench prefix: round " + r + " answered " + viaTls.token()
                            + " with the prefix from the store over TLS but " + computed.token() + " recomputing it");
                }
                if (fromStore.token() != computed.token() || layered.token() != computed.token()) {
                    throw new IllegalStateException("bench prefix: round " + r + " answered " + fromStore.token()
                            + " (by layer: " + layered.token() + ") with the prefix from the store but "
                            + computed.token() + " recomputing it");
                }
                if (r > 0) {
                    store[r - 1] = fromStore.ms();
                    byLayer[r - 1] = layered.ms();
                    local[r - 1] = fromLocal.ms();
                    recompute[r - 1] = computed.ms();
                    overTls[r - 1] = viaTls == null ? Double.NaN : viaTls.ms();
                }
                KvBench.progress(err, String.format(
                        "  round %d%s: store %.0f ms (by layer %.0f ms), local %.0f ms, recompute %.0f ms", r,
                        r == 0 ? " (warm-up)" : "", fromStore.ms(), layered.ms(), fromLocal.ms(), computed.ms()));
            }
        }
        double s = KvBench.median(store);
        double l = KvBench.median(local);
        double c = KvBench.median(recompute);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cached_tokens", cached);
        m.put("prefix_kv_bytes", kvBytes);
        m.put("ttft_store_ms", round1(s));
        double b = KvBench.median(byLayer);
        m.put("ttft_store_by_layer_ms", round1(b));
        m.put("ttft_local_ms", round1(l));
        m.put("ttft_recompute_ms", round1(c));
        m.put("store_vs_local", KvBench.round2(s / l));
        m.put("by_layer_vs_local", KvBench.round2(b / l));
        m.put("store_vs_recompute", KvBench.round2(s / c));
        // what fetching added over the local tier, as a rate: the store path's cost per byte
        m.put("fetch_gbps", s > l ? KvBench.round2(kvBytes / ((s - l) / 1e3) / 1e9) : null);
        if (tlsClient != null) {
            double t = KvBench.median(overTls);
            m.put("tls", Map.of("ttft_store_ms", round1(t), "store_vs_plaintext", KvBench.round2(t / s)));
        }
        m.put("reps", reps);
        return m;
    }

    /** The store for loads only: every run after the first must find exactly the prefix, not another run's blocks. */
    private record LoadOnly(StorePrefixCache cache) implements PrefixCache {
        @Override
        public io.kvasir.node.BlockKeyChain chain() {
            return cache.chain();
        }

        @Override
        public Loaded load(String tenant, List<io.kvasir.kv.block.BlockKey> keys, io.kvasir.engine.kv.BlockTable table) {
            return cache.load(tenant, keys, table);
        }

        @Override
        public Loaded loadByLayer(String tenant, List<io.kvasir.kv.block.BlockKey> keys,
                io.kvasir.engine.kv.BlockTable table) {
            return cache.loadByLayer(tenant, keys, table);
        }

        @Override
        public void store(String tenant, List<io.kvasir.kv.block.BlockKey> keys, io.kvasir.engine.kv.BlockTable table,
                int from, int to) {
        }
    }

    /** One answer: milliseconds from submit to the first token, and that token. */
    private record Run(double ms, int token) {
    }

    /** Submits {@code prompt} for one token; fails unless exactly {@code cached} prompt tokens were cached. */
    private static Run ttft(DecodeEngine engine, int[] prompt, int cached, String path) throws Exception {
        CompletableFuture<Long> first = new CompletableFuture<>();
        int[] token = {-1};
        CompletableFuture<EngineLoop.Finish> done = new CompletableFuture<>();
        long t0 = System.nanoTime();
        engine.submit(new EngineLoop.Request(TENANT, prompt, 1, SamplingParams.GREEDY), new EngineLoop.Listener() {
            @Override
            public void onToken(int t) {
                token[0] = t;
                first.complete(System.nanoTime());
            }

            @Override
            public void onFinish(EngineLoop.Finish finish) {
                done.complete(finish);
            }

            @Override
            public void onError(RuntimeException e) {
                done.completeExceptionally(e);
            }
        });
        EngineLoop.Finish finish = done.get(30, TimeUnit.MINUTES);
        if (finish.cachedPromptTokens() != cached) {
            throw new IllegalStateException("bench prefix: the " + path + " run found " + finish.cachedPromptTokens()
                    + " cached prompt tokens, expected " + cached);
        }
        return new Run((first.get() - t0) / 1e6, token[0]);
    }

    /** Tokens of one stream: {@code 3 + (i·7919 + 13·stream) mod (vocab − 3)}, distinct streams for distinct suffixes. */
    private static int[] tokens(int n, int stream, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + (int) (((long) i * 7919 + 13L * stream + 104729L * stream * stream) % (vocab - 3));
        }
        return t;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static double round1(double v) {
        return Math.round(v * 10) / 10.0;
    }

    /** A one-member store and a gRPC-only client of it: in another network namespace when possible, else in-process. */
    private record StoreUnderTest(KvStoreClient client, String link, AutoCloseable owner) implements AutoCloseable {
        static StoreUnderTest start(boolean namespace, int prefixTokens, BenchCertificates certs, int port,
                PrintStream err)
                throws Exception {
            String cluster = "kvasir-bench-prefix-" + UUID.randomUUID();
            long budget = Math.max(1L << 30, 64L * 1024 * prefixTokens);
            String unavailable = namespace ? VethNamespace.unavailable() : "--no-namespace";
            if (unavailable == null) {
                VethNamespace ns = VethNamespace.create();
                List<Process> processes = new ArrayList<>();
                try {
                    String peer = ns.peerAddress();
                    var member = KvBenchBetweenHosts.startMember(ns, processes, port, cluster, budget, certs);
                    Tls tls = BenchCertificates.load(certs, Role.DECODE);
                    KvStoreClient client = KvStoreClient.connect(List.of(member.grpcAddress()), tls)
                            .withoutSharedMemory();
                    return new StoreUnderTest(client, "veth pair into network namespace, " + peer, () -> {
                        for (Process p : processes) {
                            p.destroyForcibly();
                            p.waitFor();
                        }
                        ns.close();
                        if (tls != null) {
                            tls.close();
                        }
                    });
                } catch (IOException | RuntimeException e) {
                    processes.forEach(Process::destroyForcibly);
                    ns.close();
                    throw e;
                }
            }
            KvBench.progress(err, "bench prefix: store member in this process on loopback (" + unavailable + ")");
            int free;
            try (ServerSocket s = new ServerSocket(0)) {
                free = s.getLocalPort();
            }
            Tls memberTls = BenchCertificates.load(certs, Role.KV_STORE);
            KvStoreMember member = KvStoreMember.start(StoreConfig.local().withCluster(cluster).withPorts(free, 0)
                    .withPeers(List.of("127.0.0.1:" + free)).withHostBudget(budget), memberTls);
            Tls tls = BenchCertificates.load(certs, Role.DECODE);
            KvStoreClient client = KvStoreClient.connect(List.of(member.grpcAddress()), tls)
                    .withoutSharedMemory();
            return new StoreUnderTest(client, "loopback", () -> {
                member.kill();
                if (tls != null) {
                    tls.close();
                    memberTls.close();
                }
            });
        }

        @Override
        public void close() throws Exception {
            client.close();
            owner.close();
        }
    }
}
