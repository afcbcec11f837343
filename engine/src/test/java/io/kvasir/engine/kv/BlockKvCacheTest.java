package io.kvasir.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.testing.Golden;
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

    /** Sequences decoded together in one step get the logits they get alone, whatever their lengths. */
    @Test
    void batchedDecode_equalsDecodingEachSequenceAlone() {
        try (var backend = new VectorCpuBackend(2); Model m = Model.load(Golden.model("llama-wide"), backend)) {
            LlamaModel model = m.transformer();
            int vocab = model.config().vocabSize(), numSeqs = 3, steps = 6;
            KvBlockPool pool = model.newKvPool(16, 64);
            ForwardBuffers prefillBuf = model.newBuffers(64), batchBuf = model.newBuffers(numSeqs, numSeqs);
            BlockTable[] together = new BlockTable[numSeqs], alone = new BlockTable[numSeqs];
            int[][] prompts = new int[numSeqs][];
            for (int s = 0; s < numSeqs; s++) {
                prompts[s] = new int[5 + 9 * s]; // 5, 14 and 23 tokens: different lengths and block counts
                for (int i = 0; i < prompts[s].length; i++) prompts[s][i] = 3 + (i * 31 + s * 7) % (vocab - 3);
                together[s] = new BlockTable(pool);
                alone[s] = new BlockTable(pool);
                model.forward(prompts[s], 0, prompts[s].length, together[s], prefillBuf);
                model.forward(prompts[s], 0, prompts[s].length, alone[s], prefillBuf);
            }
            var batch = new io.kvasir.engine.model.Batch(numSeqs);
            ForwardBuffers aloneBuf = model.newBuffers(1);
            for (int step = 0; step < steps; step++) {
                batch.clear();
                for (int s = 0; s < numSeqs; s++) batch.add(10 + step + s, together[s].numTokens(), together[s], true);
                model.forward(batch, batchBuf);
                for (int s = 0; s < numSeqs; s++) {
                    model.forward(new int[] {10 + step + s}, 0, 1, alone[s], aloneBuf);
                    float[] row = java.util.Arrays.copyOfRange(batchBuf.logits, s * vocab, (s + 1) * vocab);
                    float diff = Golden.maxAbsDiff(row, aloneBuf.logits);
                    assertTrue(diff <= 1e-5f, "step " + step + ", sequence " + s + ": " + diff);
                }
            }
            for (int s = 0; s < numSeqs; s++) assertEquals(prompts[s].length + steps, together[s].numTokens());
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
