package io.kvasir.engine.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.testing.Golden;
import io.kvasir.testing.Prompts;

/** The engine loop stepped on this thread, on a real model: what one sequence's trouble may not do to the others. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EngineLoopTest {
    private VectorCpuBackend backend;
    private Model model;

    @BeforeAll
    void load() {
        backend = new VectorCpuBackend(2);
        model = Model.load(Golden.model("llama-gqa"), backend);
    }

    @AfterAll
    void close() {
        model.close();
        backend.close();
    }

    /** What a listener heard. */
    static final class Heard implements EngineLoop.Listener {
        final List<Integer> tokens = new ArrayList<>();
        final int throwAt;
        EngineLoop.Finish finish;
        RuntimeException error;

        Heard(int throwAt) {
            this.throwAt = throwAt;
        }

        @Override
        public void onToken(int token) {
            tokens.add(token);
            if (tokens.size() == throwAt) {
                throw new IllegalStateException("the client's stream is closed");
            }
        }

        @Override
        public void onFinish(EngineLoop.Finish f) {
            finish = f;
        }

        @Override
        public void onError(RuntimeException e) {
            error = e;
        }
    }

    private record Counting(List<Integer> prefilled) implements EngineLoop.Observer {
        @Override
        public void prefilled(int promptTokens, int cachedTokens) {
            prefilled.add(promptTokens);
        }
    }

    private EngineLoop<BlockTable> loop(KvBlockPool pool, int maxBatch, EngineLoop.Observer observer) {
        return new EngineLoop<>(new PoolBlockManager(pool), new CpuForward<>(model.transformer(), Function.identity(), 64,
                maxBatch), model.tokenizer(), model.transformer().config().contextLength(), maxBatch,
                observer);
    }

    private static EngineLoop.Request request(int promptTokens, int seed, int maxTokens) {
        return new EngineLoop.Request("t", Prompts.of(promptTokens, seed, 500), maxTokens, SamplingParams.GREEDY, -1, 0,
                true);
    }

    @Test
    void aListenerThatFailsEndsOnlyItsOwnSequence() {
        KvBlockPool pool = model.transformer().newKvPool(16, 64);
        EngineLoop<BlockTable> loop = loop(pool, 4, EngineLoop.Observer.NONE);
        Heard failing = new Heard(3);
        Heard other = new Heard(-1);
        loop.submit(request(20, 1, 12), failing);
        loop.submit(request(24, 2, 12), other);
        while (loop.step()) {
            // until both have left
        }
        assertEquals("length", other.finish.reason(), "the other sequence runs to its end");
        assertEquals(12, other.tokens.size());
        assertNull(other.error);
        assertEquals("cancelled", failing.finish.reason(), "the failing listener's sequence is cancelled");
        assertTrue(failing.tokens.size() < 12, failing.tokens.toString());
        assertEquals(pool.maxBlocks(), pool.numAvailable(), "every block back in the pool");
    }

    @Test
    void aSequenceCancelledWhileWaitingIsNeverPrefilled() {
        KvBlockPool pool = model.transformer().newKvPool(16, 64);
        List<Integer> prefilled = new ArrayList<>();
        EngineLoop<BlockTable> loop = loop(pool, 1, new Counting(prefilled));
        Heard first = new Heard(-1);
        Heard second = new Heard(-1);
        loop.submit(request(20, 1, 4), first);
        loop.submit(request(30, 2, 4), second).cancel(); // waits behind the first (one sequence per step)
        while (loop.step()) {
            // until both have left
        }
        assertEquals("length", first.finish.reason());
        assertEquals("cancelled", second.finish.reason());
        assertEquals(0, second.finish.completionTokens());
        assertEquals(List.of(20), prefilled, "only the first prompt ran");
        assertEquals(pool.maxBlocks(), pool.numAvailable());
    }
}
