package io.kvasir.node;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.model.ModelConfig;
import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.block.KvBlock;

/**
 * Engine blocks as KV-store blocks and back. Blocks travel as f32, the engine's own precision, so
 * a prefix fetched from the store continues a sequence exactly as if computed here (f16 would halve
 * the bytes at the cost of logits ~1e-3 away).
 */
public final class EngineBlocks {
    private final String fingerprint;
    private final BlockLayout layout;
    private final int latentDim;

    public EngineBlocks(ModelConfig config, String fingerprint, int blockSize) {
        this.fingerprint = fingerprint;
        if (config.mla() == null) {
            layout = BlockLayout.attention(CacheDType.F32, blockSize, config.numLayers(), config.kvDim());
            latentDim = 0;
        } else {
            layout = BlockLayout.mla(CacheDType.F32, blockSize, config.numLayers(), config.mla().kvLoraRank(),
                    config.mla().qkRopeDim());
            latentDim = config.mla().kvLoraRank();
        }
    }

    BlockLayout layout() {
        return layout;
    }

    /** Bytes one block takes in the store (its Arrow IPC encoding): what a tenant's quota is charged per block. */
    public int encodedBlockBytes() {
        return BlockCodec.encode(new KvBlock(fingerprint, layout, ByteBuffer.allocate((int) layout.columnBytes(0)),
                ByteBuffer.allocate((int) layout.columnBytes(1)))).length;
    }

    /** The Arrow IPC bytes of one engine block. Thread-safe: prefill and decode engines may share this. */
    byte[] encode(KvBlockPool pool, int blockId) {
        float[] first = new float[(int) (layout.columnBytes(0) / 4)];
        float[] second = new float[(int) (layout.columnBytes(1) / 4)];
        pool.exportBlock(blockId, latentDim, first, second);
        return BlockCodec.encode(new KvBlock(fingerprint, layout, floats(first), floats(second)));
    }

    /** Fills an engine block from store bytes, after checking they were made by this model in this layout. */
    void decodeInto(ByteBuffer bytes, KvBlockPool pool, int blockId) throws BlockFormatException {
        KvBlock block = BlockCodec.decodeFor(bytes, fingerprint, layout);
        float[] first = new float[(int) (layout.columnBytes(0) / 4)];
        float[] second = new float[(int) (layout.columnBytes(1) / 4)];
        block.column(0).asFloatBuffer().get(first);
        block.column(1).asFloatBuffer().get(second);
        pool.importBlock(blockId, latentDim, first, second);
    }

    private static ByteBuffer floats(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return b;
    }
}
