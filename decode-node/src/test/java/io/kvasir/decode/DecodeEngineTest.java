package io.kvasir.decode;

import io.kvasir.testing.Prompts;
import io.kvasir.testing.LocalStore;
import io.kvasir.testing.Golden;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.node.NodeCaches;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.node.PrefixCache;
import io.kvasir.node.StorePrefixCache;

/** The step loop on a real model, with a real KV-store member behind it. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DecodeEngineTest {
    private static final Path MODEL = Golden.model("llama-wide");
    private static final int BLOCK = 16;

    private VectorCpuBackend backend;
    private Model model;
    /** The reference: the same file on a backend of its own (a backend serves one loop at a time). */
    private VectorCpuBackend referenceBackend;
    private Model reference;
    private LocalStore store;
    private KvStoreClient client;

    @BeforeAll
    void start() {
        backend = new VectorCpuBackend(2);
        model = Model.load(MODEL, backend);
        referenceBackend = new VectorCpuBackend(1);
        reference = Model.load(MODEL, referenceBackend);
        store = LocalStore.start();
        client = store.client();
    }

    @AfterAll
    void stop() {
        store.close();
        model.close();
        backend.close();
        reference.close();
        referenceBackend.close();
    }

    static int[] prompt(int n, int seed) {
        return Prompts.of(n, seed, 503);
    }

    /** What the single-sequence engine generates: the reference for every batched run. */
    int[] alone(int[] prompt, int maxTokens, SamplingParams sampling) {
        return alone(prompt, maxTokens, sampling, KvCacheType.F32);
    }

    int[] alone(int[] prompt, int maxTokens, SamplingParams sampling, KvCacheType type) {
        return new Generator(reference, type).generate(prompt, maxTokens, sampling, false, t -> { }).tokens();
    }

    /**
     * Every token is the greedy choice for the tokens before it, within float noise: a batched step
     * sums in another order than a single-sequence one, so near-ties may go either way; replaying
     * through the single-sequence engine checks what batching promises.
     */
    void assertGreedy(int[] prompt, int[] generated, String what) {
        var lm = reference.transformer();
        var table = new io.kvasir.engine.kv.BlockTable(lm.newKvPool(BLOCK, 64));
        var buf = lm.newBuffers(64);
        int[] all = Arrays.copyOf(prompt, prompt.length + generated.length);
        System.arraycopy(generated, 0, all, prompt.length, generated.length);
        lm.forward(all, 0, prompt.length, table, buf);
        for (int i = 0; i < generated.length; i++) {
            float best = Float.NEGATIVE_INFINITY;
            for (int v = 0; v < lm.config().vocabSize(); v++) {
                best = Math.max(best, buf.logits[v]);
            }
            assertTrue(buf.logits[generated[i]] >= best - 1e-4f, what + ": token " + i + " is not a greedy choice");
            lm.forward(all, prompt.length + i, prompt.length + i + 1, table, buf);
        }
        table.release();
    }

    record Outcome(int[] tokens, EngineLoop.Finish finish) {
    }

    static CompletableFuture<Outcome> submit(DecodeEngine engine, String tenant, int[] prompt, int maxTokens,
            SamplingParams sampling) {
        CompletableFuture<Outcome> done = new CompletableFuture<>();
        List<Integer> tokens = new ArrayList<>();
        engine.submit(new EngineLoop.Request(tenant, prompt, maxTokens, sampling), new EngineLoop.Listener() {
            @Override
            public void onToken(int token) {
                tokens.add(token);
            }

            @Override
            public void onFinish(EngineLoop.Finish finish) {
                done.complete(new Outcome(tokens.stream().mapToInt(Integer::intValue).toArray(), finish));
            }

            @Override
            public void onError(RuntimeException e) {
                done.completeExceptionally(e);
            }
        });
        return done;
    }

    @Test
    void concurrentSequencesAreBatchedAndEachEqualsItsSingleSequenceRun() throws Exception {
        try (DecodeEngine engine = new DecodeEngine(model, PrefixCache.none(KvCacheType.F32), BLOCK, 256, 8, 64)) {
            List<int[]> prompts = new ArrayList<>();
            List<CompletableFuture<Outcome>> outcomes = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                prompts.add(prompt(10 + 7 * i, i));
                outcomes.add(submit(engine, "t", prompts.get(i), 24, SamplingParams.GREEDY));
            }
            for (int i = 0; i < 8; i++) {
                Outcome o = outcomes.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(24, o.tokens().length);
                assertGreedy(prompts.get(i), o.tokens(), "sequence " + i);
            }
            long[] steps = engine.stepsByBatchSize();
            int largest = 0;
            for (int b = 0; b < steps.length; b++) {
                if (steps[b] > 0) largest = b;
            }
            System.out.println("steps by batch size " + Arrays.toString(steps));
            assertTrue(largest >= 4, "sequences were batched: largest batch " + largest);
            assertEquals(engine.pool().maxBlocks(), engine.pool().numAvailable(), "every block back in the pool");
        }
    }

    /** In every KV cache dtype: blocks go through the store's codec and come back as they left. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(KvCacheType.class)
    void aRepeatedPromptLoadsItsPrefixFromTheStoreAndGivesTheSameTokens(KvCacheType type) throws Exception {
        int[] p = prompt(70, 42); // 4 full blocks + 6 tokens
        try (StorePrefixCache cache = NodeCaches.storeCache(client, model, BLOCK, type);
                DecodeEngine engine = new DecodeEngine(model, cache, BLOCK, 64, 4, 64);
                DecodeEngine elsewhere = new DecodeEngine(model, cache, BLOCK, 64, 4, 64)) {
            Outcome first = submit(engine, "alpha", p, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            cache.flush();
            // another node: its pool and local tier are empty, so the prefix comes from the store
            Outcome second = submit(elsewhere, "alpha", p, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            assertEquals(0, first.finish().cachedPromptTokens());
            assertEquals(64, second.finish().cachedPromptTokens(), "all 4 full prompt blocks came from the store");
            assertEquals(0, elsewhere.localHitTokens());
            assertArrayEquals(first.tokens(), second.tokens());
            assertArrayEquals(alone(p, 12, SamplingParams.GREEDY, type), second.tokens());
            // another tenant, same prompt: nothing shared
            Outcome other = submit(engine, "beta", p, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            assertEquals(0, other.finish().cachedPromptTokens());
            assertArrayEquals(first.tokens(), other.tokens());
        }
    }

    /**
     * A node far from the members (no shared memory) takes the prefix layer by layer, computing on
     * the first layers while the rest arrive, and answers as if it had computed it, in every dtype.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(KvCacheType.class)
    void aPrefixFetchedLayerByLayerGivesTheSameTokens(KvCacheType type) throws Exception {
        int[] p = prompt(90, 7); // 5 full blocks + 10 tokens
        try (KvStoreClient far = KvStoreClient.connect(List.of(store.member().grpcAddress())).withoutSharedMemory();
                StorePrefixCache cache = NodeCaches.storeCache(far, model, BLOCK, type).loadingByLayer();
                DecodeEngine engine = new DecodeEngine(model, cache, BLOCK, 64, 4, 64);
                DecodeEngine elsewhere = new DecodeEngine(model, cache, BLOCK, 64, 4, 64)) {
            Outcome first = submit(engine, "alpha", p, 10, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            cache.flush();
            Outcome second = submit(elsewhere, "alpha", p, 10, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            assertEquals(80, second.finish().cachedPromptTokens(), "all 5 full prompt blocks came from the store");
            assertEquals(1, cache.loadsByLayer(), "layer by layer");
            assertArrayEquals(alone(p, 10, SamplingParams.GREEDY, type), second.tokens());
            assertArrayEquals(first.tokens(), second.tokens());
            assertEquals(elsewhere.pool().maxBlocks() - elsewhere.localBlocks(), elsewhere.pool().numAvailable(),
                    "only the local tier holds blocks");
        }
    }

    /**
     * Layers that never arrive cost time, never tokens: the node drops what it loaded and computed on
     * it and computes the prompt itself. Here the first layer "arrives" as garbage and the second fails.
     */
    @Test
    void aPrefixWhoseLaterLayersNeverArriveIsComputedInstead() throws Exception {
        int[] p = prompt(50, 9); // 3 full blocks + 2 tokens
        PrefixCache losesLayers = new PrefixCache() {
            @Override
            public Loaded load(String tenant, List<BlockKey> keys, BlockTable table) {
                throw new AssertionError("loads layer by layer");
            }

            @Override
            public Loaded loadByLayer(String tenant, List<BlockKey> keys, BlockTable table) {
                int[] ids = new int[3];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = table.pool().allocate();
                    table.pool().writeKv(ids[i], 0, 0, new float[table.pool().kvDim()], 0,
                            new float[table.pool().kvDim()], 0); // not what the prompt gives
                }
                var arrivals = new io.kvasir.engine.kv.LayerArrivals(1);
                table.adoptArriving(ids, arrivals);
                Thread.ofPlatform().start(() -> {
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    arrivals.failed("the member went away");
                });
                return new Loaded(table.numTokens(), 0);
            }

            @Override
            public void store(String tenant, List<BlockKey> keys, BlockTable table, int from, int to) {
            }
        };
        try (DecodeEngine engine = new DecodeEngine(model, losesLayers, BLOCK, 64, 4, 64)) {
            Outcome o = submit(engine, "t", p, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            assertEquals(0, o.finish().cachedPromptTokens(), "nothing counted as cached");
            assertArrayEquals(alone(p, 12, SamplingParams.GREEDY), o.tokens());
            assertEquals(engine.pool().maxBlocks(), engine.pool().numAvailable(), "every block back in the pool");
        }
    }

    /** A flood waits in a bounded queue: beyond it a request is refused at once, and the node serves on. */
    @Test
    void requestsBeyondTheWaitingBoundAreRefusedAndTheNodeServesOn() throws Exception {
        try (DecodeEngine engine = new DecodeEngine(model, PrefixCache.none(KvCacheType.F32), BLOCK, 64, 1, 64)) {
            engine.loop().limitWaiting(2);
            var running = submit(engine, "t", prompt(10, 1), 60, SamplingParams.GREEDY);
            for (int i = 0; i < 500 && engine.running() == 0; i++) {
                Thread.sleep(10);
            }
            var waiting1 = submit(engine, "t", prompt(10, 2), 4, SamplingParams.GREEDY);
            var waiting2 = submit(engine, "t", prompt(10, 3), 4, SamplingParams.GREEDY);
            var e = assertThrows(io.kvasir.engine.loop.QueueFullException.class,
                    () -> submit(engine, "t", prompt(10, 4), 4, SamplingParams.GREEDY));
            assertTrue(e.getMessage().contains("2 requests wait"), e.getMessage());
            assertEquals(60, running.get(60, TimeUnit.SECONDS).tokens().length);
            assertEquals(4, waiting1.get(60, TimeUnit.SECONDS).tokens().length);
            assertEquals(4, waiting2.get(60, TimeUnit.SECONDS).tokens().length);
            assertArrayEquals(alone(prompt(10, 4), 4, SamplingParams.GREEDY),
                    submit(engine, "t", prompt(10, 4), 4, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS).tokens());
        }
    }

    @Test
    void finishedBlocksStayInTheLocalTierUntilTheirRoomIsNeeded() throws Exception {
        int[] p = prompt(70, 43);
        // 12 blocks: one 70+12-token sequence reserves 6, so the local tier must give way to the next
        try (StorePrefixCache cache = NodeCaches.storeCache(client, model, BLOCK, KvCacheType.F32);
                DecodeEngine engine = new DecodeEngine(model, cache, BLOCK, 12, 4, 64)) {
            Outcome first = submit(engine, "local", p, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            assertEquals(5, engine.resident().size(), "5 full blocks (81 tokens computed) kept locally");
            Outcome again = submit(engine, "local", p, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            assertEquals(64, engine.localHitTokens(), "the 4 prompt blocks came from the local tier");
            assertEquals(64, again.finish().cachedPromptTokens());
            assertArrayEquals(first.tokens(), again.tokens());
            // two other prompts at once need 12 blocks: every local block is evicted, nothing fails
            var a = submit(engine, "local", prompt(70, 1), 12, SamplingParams.GREEDY);
            var b = submit(engine, "local", prompt(70, 2), 12, SamplingParams.GREEDY);
            assertArrayEquals(alone(prompt(70, 1), 12, SamplingParams.GREEDY), a.get(60, TimeUnit.SECONDS).tokens());
            assertArrayEquals(alone(prompt(70, 2), 12, SamplingParams.GREEDY), b.get(60, TimeUnit.SECONDS).tokens());
            assertTrue(engine.resident().size() <= 12);
        }
    }

    @Test
    void evictionTakesACachedPrefixFromItsTail() throws Exception {
        int[] a = prompt(70, 44); // 70 + 12 tokens: 5 full blocks stay in the local tier
        int[] b = prompt(120, 45); // 120 + 12 tokens reserve 9 of the 12 blocks: 2 of a's must go
        try (StorePrefixCache cache = NodeCaches.storeCache(client, model, BLOCK, KvCacheType.F32);
                DecodeEngine engine = new DecodeEngine(model, PrefixCache.localOnly(cache.chain()), BLOCK, 12, 4, 64)) {
            Outcome first = submit(engine, "tail", a, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            submit(engine, "tail", b, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            Outcome again = submit(engine, "tail", a, 12, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            // a's last two blocks went, so its first three still make a prefix (head first: none would)
            assertEquals(48, again.finish().cachedPromptTokens());
            assertArrayEquals(first.tokens(), again.tokens());
        }
    }

    @Test
    void sequencesOnOneCachedPrefixShareItsBlocks() throws Exception {
        int[] p = prompt(70, 43); // generates all 12 tokens (no end-of-generation token)
        // 12 blocks: a 70+12-token sequence needs 6; copies of its 4 cached prompt blocks would let
        // two run at once, shared ones let three (2 own blocks each beside the 4 shared)
        try (DecodeEngine engine = new DecodeEngine(model, PrefixCache.localOnly(
                new io.kvasir.node.BlockKeyChain("share-test", KvCacheType.F32, BLOCK)), BLOCK, 12, 4, 64)) {
            // the three are submitted on the loop thread as the first one ends, so all three wait
            // for admission together, however fast the loop runs
            List<CompletableFuture<Outcome>> three = new ArrayList<>();
            CompletableFuture<Outcome> done = new CompletableFuture<>();
            List<Integer> tokens = new ArrayList<>();
            engine.submit(new EngineLoop.Request("t", p, 12, SamplingParams.GREEDY), new EngineLoop.Listener() {
                @Override
                public void onToken(int token) {
                    tokens.add(token);
                }

                @Override
                public void onFinish(EngineLoop.Finish finish) {
                    for (int i = 0; i < 3; i++) {
                        three.add(submit(engine, "t", p, 12, SamplingParams.GREEDY));
                    }
                    done.complete(new Outcome(tokens.stream().mapToInt(Integer::intValue).toArray(), finish));
                }
            });
            Outcome first = done.get(60, TimeUnit.SECONDS);
            for (var f : three) {
                Outcome o = f.get(60, TimeUnit.SECONDS);
                assertArrayEquals(first.tokens(), o.tokens(), "a shared prefix gives the computed one's tokens");
                assertEquals(64, o.finish().cachedLocalTokens());
            }
            assertTrue(engine.stepsByBatchSize()[3] > 0, "three sequences ran together on 12 blocks: "
                    + Arrays.toString(engine.stepsByBatchSize()));
            // every hold was dropped: the whole pool is free again once the local tier gives way
            assertEquals(12, engine.freeBlocks());
            assertEquals(12, engine.pool().numAvailable() + engine.localBlocks());
            var a = submit(engine, "t", prompt(70, 5), 12, SamplingParams.GREEDY);
            var b = submit(engine, "t", prompt(70, 6), 12, SamplingParams.GREEDY);
            assertArrayEquals(alone(prompt(70, 5), 12, SamplingParams.GREEDY), a.get(60, TimeUnit.SECONDS).tokens());
            assertArrayEquals(alone(prompt(70, 6), 12, SamplingParams.GREEDY), b.get(60, TimeUnit.SECONDS).tokens());
        }
    }

    @Test
    void aPromptArrivingWhileItsTwinRunsSharesTheBlocksTheTwinComputed() throws Exception {
        int[] p = prompt(70, 43);
        try (DecodeEngine engine = new DecodeEngine(model, PrefixCache.localOnly(
                new io.kvasir.node.BlockKeyChain("twin-test", KvCacheType.F32, BLOCK)), BLOCK, 64, 4, 64)) {
            var a = submit(engine, "t", p, 12, SamplingParams.GREEDY);
            var b = submit(engine, "t", p, 12, SamplingParams.GREEDY);
            Outcome first = a.get(60, TimeUnit.SECONDS), second = b.get(60, TimeUnit.SECONDS);
            assertArrayEquals(first.tokens(), second.tokens());
            assertEquals(64, first.finish().cachedLocalTokens() + second.finish().cachedLocalTokens(),
                    "the 4 full prompt blocks were computed once");
            assertEquals(64, engine.freeBlocks());
        }
    }

    @Test
    void aFloodingTenantDoesNotStarveAnother() throws Exception {
        // room for 2 sequences at a time; tenant "flood" queues 8, then "quiet" asks for 1
        try (DecodeEngine engine = new DecodeEngine(model, PrefixCache.none(KvCacheType.F32), BLOCK, 256, 2, 64)) {
            List<Long> finishedAt = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<CompletableFuture<Outcome>> flood = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                flood.add(submit(engine, "flood", prompt(12, 300 + i), 40, SamplingParams.GREEDY)
                        .whenComplete((o, e) -> finishedAt.add(System.nanoTime())));
            }
            long[] quietDone = new long[1];
            var quiet = submit(engine, "quiet", prompt(12, 400), 40, SamplingParams.GREEDY)
                    .whenComplete((o, e) -> quietDone[0] = System.nanoTime());
            quiet.get(120, TimeUnit.SECONDS);
            for (var f : flood) {
                f.get(120, TimeUnit.SECONDS);
            }
            long floodAfterQuiet = finishedAt.stream().filter(t -> t > quietDone[0]).count();
            assertTrue(floodAfterQuiet >= 5, "the quiet tenant went ahead of most of the flood (" + floodAfterQuiet
                    + " of 8 flood requests finished after it)");
        }
    }

    @Test
    void theNextTurnReusesBlocksMadeDuringDecode() throws Exception {
        int[] turn1 = prompt(20, 7);
        try (StorePrefixCache cache = NodeCaches.storeCache(client, model, BLOCK, KvCacheType.F32);
                DecodeEngine engine = new DecodeEngine(model, cache, BLOCK, 64, 4, 64)) {
            Outcome answer = submit(engine, "chat", turn1, 30, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            cache.flush();
            // turn 2 = turn 1 + the answer + the user's next words
            int[] turn2 = Arrays.copyOf(turn1, turn1.length + answer.tokens().length + 5);
            System.arraycopy(answer.tokens(), 0, turn2, turn1.length, answer.tokens().length);
            for (int i = turn1.length + answer.tokens().length; i < turn2.length; i++) {
                turn2[i] = 100 + i;
            }
            Outcome next = submit(engine, "chat", turn2, 8, SamplingParams.GREEDY).get(60, TimeUnit.SECONDS);
            // turn 1 held 20 + 30 tokens; the 49 whose KV was computed fill 3 blocks: 2 from decode
            assertEquals(48, next.finish().cachedPromptTokens());
            assertArrayEquals(alone(turn2, 8, SamplingParams.GREEDY), next.tokens());
        }
    }

    @Test
    void badRequestsAreRefusedAndCancellationFreesEverything() throws Exception {
        try (DecodeEngine engine = new DecodeEngine(model, PrefixCache.none(KvCacheType.F32), BLOCK, 32, 4, 64)) {
            var listener = new EngineLoop.Listener() {
                @Override
                public void onToken(int token) {
                }

                @Override
                public void onFinish(EngineLoop.Finish finish) {
                }
            };
            var e = assertThrows(IllegalArgumentException.class,
                    () -> engine.submit(new EngineLoop.Request("t", new int[0], 4, SamplingParams.GREEDY), listener));
            assertTrue(e.getMessage().contains("empty"));
            e = assertThrows(IllegalArgumentException.class, () -> engine.submit(
                    new EngineLoop.Request("t", new int[] {1, 99999}, 4, SamplingParams.GREEDY), listener));
            assertTrue(e.getMessage().contains("99999"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> engine.submit(
                    new EngineLoop.Request("t", prompt(10, 1), 0, SamplingParams.GREEDY), listener));
            assertTrue(e.getMessage().contains("max_tokens"), e.getMessage());
            // near 2^31 the prompt + max_tokens would wrap negative in int and pass: refused instead
            e = assertThrows(IllegalArgumentException.class, () -> engine.submit(
                    new EngineLoop.Request("t", prompt(10, 1), Integer.MAX_VALUE - 5, SamplingParams.GREEDY), listener));
            assertTrue(e.getMessage().contains("exceeds the context length"), e.getMessage());

            CompletableFuture<EngineLoop.Finish> finished = new CompletableFuture<>();
            EngineLoop.Handle handle = engine.submit(new EngineLoop.Request("t", prompt(30, 2), 400,
                    SamplingParams.GREEDY), new EngineLoop.Listener() {
                        int seen;

                        @Override
                        public void onToken(int token) {
                            seen++;
                        }

                        @Override
                        public void onFinish(EngineLoop.Finish finish) {
                            finished.complete(finish);
                        }
                    });
            handle.cancel(); // at once: even a warm loop cannot finish 400 tokens first
            EngineLoop.Finish f = finished.get(30, TimeUnit.SECONDS);
            assertTrue(f.reason().equals("cancelled") || f.reason().equals("stop"), f.reason());
            Thread.sleep(50);
            assertEquals(engine.pool().maxBlocks(), engine.pool().numAvailable(), "cancelled: every block freed");
        }
    }

    @Test
    void aPrefixCacheThatFailsEndsOnlyItsOwnRequestAndFreesItsBlocks() throws Exception {
        PrefixCache failsForBad = new PrefixCache() {
            @Override
            public Loaded load(String tenant, List<BlockKey> keys, BlockTable table) {
                if (tenant.equals("bad")) {
                    throw new IllegalStateException("a store that answers nonsense");
                }
                return new Loaded(table.numTokens(), 0);
            }

            @Override
            public void store(String tenant, List<BlockKey> keys, BlockTable table, int from, int to) {
            }
        };
        try (DecodeEngine engine = new DecodeEngine(model, failsForBad, BLOCK, 64, 4, 64)) {
            var good = submit(engine, "good", prompt(30, 1), 40, SamplingParams.GREEDY);
            var bad = submit(engine, "bad", prompt(30, 2), 40, SamplingParams.GREEDY);
            var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> bad.get(60, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().contains("nonsense"), e.getCause().toString());
            assertEquals("length", good.get(60, TimeUnit.SECONDS).finish().reason(), "the other request runs to its end");
            for (int i = 0; i < 100 && engine.pool().numAvailable() < engine.pool().maxBlocks(); i++) {
                Thread.sleep(20);
            }
            assertEquals(engine.pool().maxBlocks(), engine.pool().numAvailable(), "the failed request's blocks are free");
            assertEquals(64, engine.freeBlocks(), "and its reservation returned");
        }
    }
}
