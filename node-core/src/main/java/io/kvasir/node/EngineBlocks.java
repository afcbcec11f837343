package io.kvasir.node;

import java.nio.ByteBuffer;

import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.kv.LayerArrivals;
import io.kvasir.engine.model.ModelConfig;
import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.block.KvBlock;

/**
 * Engine blocks as KV-store blocks and back. Blocks travel in the pool's {@link KvCacheType}, which
 * holds exactly what the pool does, so a prefix fetched from the store continues a sequence exactly
 * as if computed here. A block of another dtype, layout or model is a miss, never misread.
 */
public final class EngineBlocks {
    private final String fingerprint;
    private final BlockLayout layout;
    /** Whether blocks may arrive layer by layer: not under sliding windows, which free blocks mid-pass. */
    private final boolean byLayer;

    public EngineBlocks(ModelConfig config, String fingerprint, int blockSize, KvCacheType type) {
        this.fingerprint = fingerprint;
        this.byLayer = config.cachedLayers() > 1 && config.widestWindow() == Integer.MAX_VALUE;
        CacheDType dtype = storeDtype(type);
        layout = config.mla() == null
                ? BlockLayout.attention(dtype, blockSize, config.cachedLayers(), config.numKvHeads(), config.headDim())
                : BlockLayout.mla(dtype, blockSize, config.numLayers(), config.mla().kvLoraRank(), config.mla().qkRopeDim());
    }

    /** The store's name for an engine's KV cache type (the store's module knows no engine types). */
    static CacheDType storeDtype(KvCacheType type) {
        return CacheDType.fromId(type.id());
    }

    BlockLayout layout() {
        return layout;
    }

    /** Bytes one block takes in the store (its Arrow IPC encoding): what a tenant's quota is charged per block. */
    public int encodedBlockBytes() {
        return BlockCodec.encode(fingerprint, layout, columns -> { }).length;
    }

    /** The Arrow IPC bytes of one engine block. Thread-safe: prefill and decode engines may share this. */
    byte[] encode(KvBlockPool pool, int blockId) {
        requireType(pool);
        return BlockCodec.encode(fingerprint, layout, columns -> pool.exportBlock(blockId, columns));
    }

    /** Fills an engine block from store bytes, after checking they were made by this model in this layout. */
    void decodeInto(ByteBuffer bytes, KvBlockPool pool, int blockId) throws BlockFormatException {
        importLayers(decodeLayers(bytes, 0, layout.layers()), pool, blockId); // all of them: the whole layout
    }

    /** Whether a prefix may be loaded layer by layer while the forward pass runs (see {@link LayerArrivals}). */
    boolean loadsByLayer() {
        return byLayer;
    }

    /** A slice of a store block holding layers {@code [first, first + count)}, checked as {@link #decodeInto} checks blocks. */
    KvBlock decodeLayers(ByteBuffer bytes, int first, int count) throws BlockFormatException {
        return BlockCodec.decodeFor(bytes, fingerprint, layout.slice(first, count));
    }

    /** Writes a slice from {@link #decodeLayers} into its layers of an engine block. */
    void importLayers(KvBlock slice, KvBlockPool pool, int blockId) {
        requireType(pool);
        ByteBuffer[] columns = new ByteBuffer[layout.columns()];
        for (int c = 0; c < columns.length; c++) {
            columns[c] = slice.column(c);
        }
        pool.importLayers(blockId, slice.layout().firstLayer(), slice.layout().layers(), columns);
    }

    private void requireType(KvBlockPool pool) {
        if (!pool.type().id().equals(layout.dtype().id())) {
            throw new IllegalArgumentException("a pool of " + pool.type().id() + " blocks for a store of "
                    + layout.dtype().id() + " blocks");
        }
    }
}
