package io.kvasir.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Decoding over cached KV blocks gives what recomputing the whole prefix gives, at every position. */
class BlockKvCacheTest {
    private static final int LENGTH = 40;

    private static int[] tokens(int vocab) {
        int[] t = new int[LENGTH];
        t[0] = 1;
        for (int i = 1; i < LENGTH; i++) t[i] = 3 + (i * 7919 + 13) % (vocab - 3);
        return t;
    }

    @ParameterizedTest(name = "{0}, block size {1}, prefill chunk {2}")
    @CsvSource({"llama-wide,16,64", "llama-wide,1,64", "llama-wide,7,5", "qwen2-mqa,16,3", "llama-mqa,5,1"})
    void decodeOverBlocks_equalsFullRecomputation(String name, int blockSize, int chunk) {
        try (var backend = new VectorCpuBackend(2); Model m = Model.load(Golden.model(name), backend)) {
            LlamaModel model = m.transformer();
            int[] tokens = tokens(model.config().vocabSize());
            KvBlockPool pool = model.newKvPool(blockSize, 2 * LENGTH);
            ForwardBuffers decodeBuf = model.newBuffers(chunk), fullBuf = model.newBuffers(LENGTH);
            BlockTable decoded = new BlockTable(pool);
            float worst = 0;
            for (int p = 0; p < LENGTH; p++) {
                model.forward(tokens, p, p + 1, decoded, decodeBuf);   // one more token over the cache
                BlockTable full = new BlockTable(pool);
                model.forward(tokens, 0, p + 1, full, fullBuf);       // the whole prefix, from scratch
                full.release();
                float diff = Golden.maxAbsDiff(decodeBuf.logits, fullBuf.logits);
                worst = Math.max(worst, diff);
                assertTrue(diff <= 1e-5f, "position " + p + ": max |logit diff| " + diff);
            }
            assertEquals(LENGTH, decoded.numTokens());
            assertEquals((LENGTH + blockSize - 1) / blockSize, decoded.numBlocks());
            System.out.printf("%s block %d chunk %d: worst |decode - recompute| = %.2e%n", name, blockSize, chunk, worst);
            decoded.release();
            assertEquals(pool.maxBlocks(), pool.numAvailable(), "every block returned to the pool");
        }
    }

    @Test
    void poolExhaustion_isAClearError() {
        var pool = new KvBlockPool(2, 8, 4, 3);
        var table = new BlockTable(pool);
        table.reserve(12);
        var e = assertThrows(KvCacheFullException.class, () -> table.reserve(13));
        assertTrue(e.getMessage().contains("1 more blocks needed for 13 tokens, 0 free"), e.getMessage());
        table.release();
        assertEquals(3, pool.numAvailable());
        assertThrows(IllegalArgumentException.class, () -> pool.free(0), "double free is refused");
    }
}
