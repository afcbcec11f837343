package io.kvasir.engine.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.model.ModelConfig;
import io.kvasir.testing.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Blocks leave the engine in the KV store's layout and come back into another pool: a sequence
 * continued from imported blocks gives the logits of the sequence that computed them, for K/V
 * blocks and for MLA latent blocks.
 */
class BlockExportTest {
    @ParameterizedTest
    @CsvSource({"llama-gqa,F32", "llama-gqa,F16", "llama-gqa,BF16", "llama-gqa,FP8", "llama-gqa,INT8",
            "ds2-tiny,F32", "ds2-tiny,F16", "ds2-tiny,FP8", "ds2-tiny,INT8"})
    void exportedBlocksImportedElsewhereContinueTheSequenceExactly(String name, KvCacheType type) {
        int blockSize = 8, prefix = 3 * blockSize;
        int[] tokens = new int[prefix + 5];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 3 + (i * 7919 + 13) % 500;
        }
        try (var backend = new VectorCpuBackend(2); Model model = Model.load(Golden.model(name), backend)) {
            LlamaModel lm = model.transformer();
            ModelConfig c = lm.config();
            BlockTable original = new BlockTable(lm.newKvPool(blockSize, 8, type));
            ForwardBuffers buf = lm.newBuffers(16);
            lm.forward(tokens, 0, prefix, original, buf); // the same chunks as the resumed run: bit-equal sums
            lm.forward(tokens, prefix, tokens.length, original, buf);
            float[] expected = buf.logits.clone();

            BlockTable computed = new BlockTable(lm.newKvPool(blockSize, 8, type));
            lm.forward(tokens, 0, prefix, computed, buf);
            KvBlockPool elsewhere = lm.newKvPool(blockSize, 8, type);
            int[] ids = new int[prefix / blockSize];
            for (int b = 0; b < ids.length; b++) {
                long[] sizes = computed.pool().columnBytes();
                ByteBuffer[] columns = new ByteBuffer[sizes.length];
                for (int i = 0; i < sizes.length; i++) {
                    columns[i] = column((int) sizes[i]);
                }
                computed.pool().exportBlock(computed.blockId(b), columns);
                ids[b] = elsewhere.allocate();
                elsewhere.importBlock(ids[b], columns);
                assertArrayEquals(floats(computed.pool(), computed.blockId(b)), floats(elsewhere, ids[b]),
                        "block " + b + " after its trip through the store's layout in " + type);
            }
            BlockTable resumed = new BlockTable(elsewhere);
            resumed.adopt(ids);
            lm.forward(tokens, prefix, tokens.length, resumed, buf);
            // not bit-equal: the first run executes partly interpreted, where the Vector API's FMAs round
            // differently from the compiled code (the same run twice differs by ~3e-7 too)
            float diff = Golden.maxAbsDiff(expected, buf.logits);
            assertTrue(diff < 1e-5, "logits after importing the prefix differ by " + diff);
        }
    }

    private static ByteBuffer column(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static float[] floats(KvBlockPool pool, int blockId) {
        float[] out = new float[pool.valuesPerBlock()];
        pool.widen(blockId, 0, out.length, out, 0);
        return out;
    }
}
