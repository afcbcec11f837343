package io.kvasir.engine.kv;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Fixed-size KV blocks: each holds the keys and values of {@code blockSize} consecutive tokens
 * for every layer, the unit the KV store ships and keeps. Per layer, a block holds its keys
 * transposed, {@code K[kvDim][slot]}, then its values {@code V[slot][kvDim]}:
 * <ul>
 *   <li>keys dimension-major, so the scores of all slots of a block are one FMA per dimension
 *       over a vector of slots (a block of 16 fills one 512-bit vector), with no horizontal sums;</li>
 *   <li>values slot-major, so the weighted sum adds whole value rows.</li>
 * </ul>
 *
 * <p>MLA models ({@link #latent}) cache one row per token instead: the latent and the rope key,
 * {@code [slot][width]} per layer; attention reads keys and values from the same rows.
 *
 * <p>Values are floats on the heap, each rounded to the pool's {@link KvCacheType} when written,
 * so attention reads f32 while a block holds exactly what its type carries to the store and back.
 *
 * <p>Blocks are allocated on first use and recycled through a free list; the pool never holds
 * more than {@code maxBlocks}. Not thread-safe: one step loop allocates and frees; forward passes
 * may read and write block contents from worker threads.
 */
public final class KvBlockPool {
    private final int numLayers;
    private final int kvDim;
    private final boolean latent;
    private final KvCacheType type;
    private final int floatsPerBlock;
    private final int blockSize;
    private final int maxBlocks;
    private final float[][] blocks;
    private final int[] freeIds;
    /** Holders of each block (a sequence's table, a node's local tier); 0: free. */
    private final int[] refs;
    private int numFree;
    private int numCreated;

    /** A pool of f32 blocks. */
    public KvBlockPool(int numLayers, int kvDim, int blockSize, int maxBlocks) {
        this(numLayers, kvDim, blockSize, maxBlocks, false, KvCacheType.F32);
    }

    public KvBlockPool(int numLayers, int kvDim, int blockSize, int maxBlocks, KvCacheType type) {
        this(numLayers, kvDim, blockSize, maxBlocks, false, type);
    }

    /** A pool of MLA blocks: per layer and slot one row of {@code width} values (latent, then rope key). */
    public static KvBlockPool latent(int numLayers, int width, int blockSize, int maxBlocks, KvCacheType type) {
        return new KvBlockPool(numLayers, width, blockSize, maxBlocks, true, type);
    }

    private KvBlockPool(int numLayers, int kvDim, int blockSize, int maxBlocks, boolean latent, KvCacheType type) {
        if (numLayers <= 0 || kvDim <= 0 || blockSize <= 0 || maxBlocks <= 0) {
            throw new IllegalArgumentException("KV pool needs positive sizes: layers=%d kvDim=%d blockSize=%d maxBlocks=%d"
                    .formatted(numLayers, kvDim, blockSize, maxBlocks));
        }
        this.numLayers = numLayers;
        this.kvDim = kvDim;
        this.blockSize = blockSize;
        this.maxBlocks = maxBlocks;
        this.blocks = new float[maxBlocks][];
        this.freeIds = new int[maxBlocks];
        this.refs = new int[maxBlocks];
        this.latent = latent;
        this.type = type;
        this.floatsPerBlock = numLayers * (latent ? 1 : 2) * blockSize * kvDim;
    }

    /** The precision every value written is rounded to; blocks travel in it. */
    public KvCacheType type() {
        return type;
    }

    /** Whether blocks hold MLA rows ({@link #rowOffset}) rather than keys and values. */
    public boolean isLatent() {
        return latent;
    }

    public int blockSize() {
        return blockSize;
    }

    public int kvDim() {
        return kvDim;
    }

    public int numLayers() {
        return numLayers;
    }

    public int maxBlocks() {
        return maxBlocks;
    }

    /** Blocks that can still be handed out. */
    public int numAvailable() {
        return numFree + (maxBlocks - numCreated);
    }

    public int allocate() {
        if (numFree > 0) {
            int id = freeIds[--numFree];
            refs[id] = 1;
            return id;
        }
        if (numCreated == maxBlocks) {
            throw new KvCacheFullException("KV cache full: all " + maxBlocks + " blocks of " + blockSize + " tokens are in use");
        }
        int id = numCreated++;
        blocks[id] = new float[floatsPerBlock];
        refs[id] = 1;
        return id;
    }

    /**
     * Drops one holder of a block; the last one returns it to the pool. A full block's contents
     * never change, so holders share it read-only (a cached prefix in several sequences at once).
     */
    public void free(int blockId) {
        requireAllocated(blockId);
        if (--refs[blockId] == 0) {
            freeIds[numFree++] = blockId;
        }
    }

    /** Adds a holder to an allocated block: it stays until each holder has freed it. */
    public void retain(int blockId) {
        requireAllocated(blockId);
        refs[blockId]++;
    }

    /** Holders of a block (0 when free). */
    public int holders(int blockId) {
        return blockId >= 0 && blockId < numCreated ? refs[blockId] : 0;
    }

    private void requireAllocated(int blockId) {
        if (blockId < 0 || blockId >= numCreated || refs[blockId] == 0) {
            throw new IllegalArgumentException("block " + blockId + " is not allocated");
        }
    }

    /** The floats of a block; index them with {@link #keyOffset} and {@link #valueOffset}. */
    public float[] data(int blockId) {
        return blocks[blockId];
    }

    /** Where key dimension {@code dim} of the block's slots starts: {@code blockSize} floats, one per slot. */
    public int keyOffset(int layer, int dim) {
        return (layer * 2 * blockSize) * kvDim + dim * blockSize;
    }

    public int valueOffset(int layer, int slot) {
        return ((layer * 2 + 1) * blockSize + slot) * kvDim;
    }

    /**
     * Copies a block out in the KV store's layout, token-major {@code [layer][slot][width]} in this
     * pool's {@link #type()}, little-endian: keys into {@code first} and values into {@code second},
     * each {@code numLayers·blockSize·kvDim} values; for MLA pools the latent ({@code latentDim} per
     * slot) into {@code first} and the rope key (the rest of the row) into {@code second}. One pass:
     * keys are transposed back to token-major as they are written.
     */
    public void exportBlock(int blockId, int latentDim, ByteBuffer first, ByteBuffer second) {
        copyBlock(blockId, latentDim, first, second, true);
    }

    /** The inverse of {@link #exportBlock}: fills a block from the KV store's layout. */
    public void importBlock(int blockId, int latentDim, ByteBuffer first, ByteBuffer second) {
        copyBlock(blockId, latentDim, first, second, false);
    }

    private void copyBlock(int blockId, int latentDim, ByteBuffer first, ByteBuffer second, boolean out) {
        float[] b = blocks[blockId];
        int size = type.bytes(), firstWidth = latent ? latentDim : kvDim, secondWidth = kvDim - (latent ? latentDim : 0);
        requireBytes(first, (long) numLayers * blockSize * firstWidth * size);
        requireBytes(second, (long) numLayers * blockSize * secondWidth * size);
        for (int layer = 0; layer < numLayers; layer++) {
            for (int slot = 0; slot < blockSize; slot++) {
                int row = (layer * blockSize + slot);
                for (int d = 0; d < firstWidth; d++) {
                    int at = latent ? rowOffset(layer, slot) + d : keyOffset(layer, d) + slot;
                    int pos = first.position() + (row * firstWidth + d) * size;
                    if (out) {
                        type.put(first, pos, b[at]);
                    } else {
                        b[at] = type.get(first, pos);
                    }
                }
                int base = latent ? rowOffset(layer, slot) + latentDim : valueOffset(layer, slot);
                for (int d = 0; d < secondWidth; d++) {
                    int pos = second.position() + (row * secondWidth + d) * size;
                    if (out) {
                        type.put(second, pos, b[base + d]);
                    } else {
                        b[base + d] = type.get(second, pos);
                    }
                }
            }
        }
    }

    private static void requireBytes(ByteBuffer column, long bytes) {
        if (column.remaining() != bytes) {
            throw new IllegalArgumentException("a block column of " + bytes + " bytes, got " + column.remaining());
        }
        if (column.order() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalArgumentException("block columns are little-endian");
        }
    }

    /**
     * Writes one token's key and value for {@code layer} into {@code slot} of a block: the value as a
     * row, the key spread across the block (keys are transposed within a block, as attention reads them).
     */
    public void writeKv(int blockId, int layer, int slot, float[] k, int kOffset, float[] v, int vOffset) {
        float[] b = blocks[blockId];
        int keys = keyOffset(layer, 0) + slot;
        int values = valueOffset(layer, slot);
        for (int d = 0; d < kvDim; d++) {
            b[keys + d * blockSize] = type.round(k[kOffset + d]);
            b[values + d] = type.round(v[vOffset + d]);
        }
    }

    /** MLA pools: writes one token's row (latent then rope key) for {@code layer} into {@code slot} of a block. */
    public void writeRow(int blockId, int layer, int slot, float[] row, int offset) {
        float[] b = blocks[blockId];
        int at = rowOffset(layer, slot);
        for (int d = 0; d < kvDim; d++) {
            b[at + d] = type.round(row[offset + d]);
        }
    }

    /** MLA pools: where the row of {@code slot} in {@code layer} starts ({@code kvDim} floats). */
    public int rowOffset(int layer, int slot) {
        return (layer * blockSize + slot) * kvDim;
    }
}
