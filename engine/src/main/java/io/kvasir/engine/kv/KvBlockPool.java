package io.kvasir.engine.kv;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

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
 * <p>Each value is rounded to the pool's {@link KvCacheType} when written, so a block holds exactly
 * what its type carries to the store and back. f32 pools keep floats ({@link #data}); the others
 * keep what a block carries, which attention widens to floats a head of a block at a time
 * ({@link #widen}): f16 and bf16 pools their 16-bit values (half the memory), fp8 and int8 pools
 * their 8-bit codes (a quarter) and a scale per group beside the block: per token and layer, one
 * per KV head of the key and of the value; for MLA one for the latent and one for the rope key.
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
    /** The two parts of a token's row, as a block ships them: key and value, or latent and rope key. */
    private final int[] partWidth;
    /** Values per scale group in each part: the head dimension, or the whole part for MLA. */
    private final int[] groupWidth;
    private final int groupsPerPart;
    private final int floatsPerBlock;
    private final int scalesPerBlock;
    private final int blockSize;
    private final int maxBlocks;
    private final float[][] blocks; // the blocks of f32 pools, else null
    private final short[][] halves; // the blocks of 16-bit pools, else null
    private final byte[][] codes; // the blocks of 8-bit pools, else null
    private final float[][] scales; // the scales of 8-bit pools, else null
    private final int[] freeIds;
    /** Holders of each block (a sequence's table, a node's local tier); 0: free. */
    private final int[] refs;
    private int numFree;
    private int numCreated;

    /** A pool of f32 blocks. */
    public KvBlockPool(int numLayers, int kvDim, int blockSize, int maxBlocks) {
        this(numLayers, kvDim, blockSize, maxBlocks, false, KvCacheType.F32, kvDim, kvDim);
    }

    /** A pool of K/V blocks of {@code numKvHeads × headDim} values per token and layer each. */
    public KvBlockPool(int numLayers, int numKvHeads, int headDim, int blockSize, int maxBlocks, KvCacheType type) {
        this(numLayers, numKvHeads * headDim, blockSize, maxBlocks, false, type, headDim, headDim);
    }

    /** A pool of MLA blocks: per layer and slot one row, the latent ({@code latentDim}) then the rope key. */
    public static KvBlockPool latent(int numLayers, int latentDim, int ropeDim, int blockSize, int maxBlocks,
            KvCacheType type) {
        return new KvBlockPool(numLayers, latentDim + ropeDim, blockSize, maxBlocks, true, type, latentDim, ropeDim);
    }

    private KvBlockPool(int numLayers, int kvDim, int blockSize, int maxBlocks, boolean latent, KvCacheType type,
            int firstGroup, int secondGroup) {
        if (numLayers <= 0 || kvDim <= 0 || blockSize <= 0 || maxBlocks <= 0 || firstGroup <= 0 || secondGroup <= 0) {
            throw new IllegalArgumentException("KV pool needs positive sizes: layers=%d kvDim=%d blockSize=%d maxBlocks=%d"
                    .formatted(numLayers, kvDim, blockSize, maxBlocks));
        }
        this.numLayers = numLayers;
        this.kvDim = kvDim;
        this.blockSize = blockSize;
        this.maxBlocks = maxBlocks;
        this.blocks = type == KvCacheType.F32 ? new float[maxBlocks][] : null;
        this.halves = type.bytes() == 2 ? new short[maxBlocks][] : null;
        this.codes = type.scaled() ? new byte[maxBlocks][] : null;
        this.freeIds = new int[maxBlocks];
        this.refs = new int[maxBlocks];
        this.latent = latent;
        this.type = type;
        this.partWidth = latent ? new int[] {firstGroup, secondGroup} : new int[] {kvDim, kvDim};
        this.groupWidth = new int[] {firstGroup, secondGroup};
        if (partWidth[0] % firstGroup != 0) {
            throw new IllegalArgumentException("KV width " + kvDim + " is not a whole number of heads of " + firstGroup);
        }
        this.groupsPerPart = partWidth[0] / firstGroup;
        this.floatsPerBlock = numLayers * (latent ? 1 : 2) * blockSize * kvDim;
        this.scalesPerBlock = type.scaled() ? numLayers * blockSize * 2 * groupsPerPart : 0;
        this.scales = type.scaled() ? new float[maxBlocks][] : null;
    }

    /** The precision every value written is rounded to; blocks travel in it. */
    public KvCacheType type() {
        return type;
    }

    /** Bytes one token's K/V (or MLA row) take in a block of this pool's type, scales included. */
    public long bytesPerToken() {
        return java.util.Arrays.stream(columnBytes()).sum() / blockSize;
    }

    /**
     * The sizes of a block's columns in the store's layout, in bytes: the two parts' values, then
     * for scaled types the two parts' scales ({@code [layer][slot][group]} f32).
     */
    public long[] columnBytes() {
        return columnBytes(numLayers);
    }

    /** {@link #columnBytes()} of {@code layers} layers of a block. */
    private long[] columnBytes(int layers) {
        long rows = (long) layers * blockSize;
        long first = rows * partWidth[0] * type.bytes(), second = rows * partWidth[1] * type.bytes();
        long scales = rows * groupsPerPart * Float.BYTES;
        return type.scaled() ? new long[] {first, second, scales, scales}
                : new long[] {first, second};
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
        if (halves != null) {
            halves[id] = new short[floatsPerBlock];
        } else if (codes != null) {
            codes[id] = new byte[floatsPerBlock];
        } else {
            blocks[id] = new float[floatsPerBlock];
        }
        if (scales != null) {
            scales[id] = new float[scalesPerBlock];
        }
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

    /**
     * The floats of a block of a pool that keeps floats ({@link #keepsFloats}); index them with
     * {@link #keyOffset} and {@link #valueOffset}.
     */
    public float[] data(int blockId) {
        if (blocks == null) {
            throw new IllegalStateException("a " + type.id() + " pool keeps " + type.bytes() * 8
                    + "-bit values: read them through widen()");
        }
        return blocks[blockId];
    }

    /** Whether blocks are float arrays ({@link #data}); otherwise attention reads them through {@link #widen}. */
    public boolean keepsFloats() {
        return blocks != null;
    }

    /** Values in one block (keys and values of every layer, or every layer's rows). */
    public int valuesPerBlock() {
        return floatsPerBlock;
    }

    /**
     * Values {@code [from, from + length)} of a block as floats, into {@code out[outOffset ..]}: the
     * same indices as {@link #data}'s. For a 16-bit pool, a loop the JIT turns into vector
     * conversions (F16C's {@code vcvtph2ps} for f16, a shift for bf16); for an 8-bit pool, each code
     * times its group's scale.
     */
    public void widen(int blockId, int from, int length, float[] out, int outOffset) {
        if (blocks != null) {
            System.arraycopy(blocks[blockId], from, out, outOffset, length);
        } else if (codes != null) {
            widenScaled(blockId, from, length, out, outOffset);
        } else if (type == KvCacheType.F16) {
            short[] h = halves[blockId];
            for (int i = 0; i < length; i++) {
                out[outOffset + i] = Float.float16ToFloat(h[from + i]);
            }
        } else {
            widenBf16(halves[blockId], from, length, out, outOffset);
        }
    }

    private static final VectorSpecies<Short> SHORTS = ShortVector.SPECIES_128;
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_256;

    /** bf16 is f32's top half: shifted into place, 8 lanes at a time (the JIT leaves the scalar form unvectorised). */
    private static void widenBf16(short[] h, int from, int length, float[] out, int outOffset) {
        int i = 0;
        for (int upper = SHORTS.loopBound(length); i < upper; i += SHORTS.length()) {
            ((IntVector) ShortVector.fromArray(SHORTS, h, from + i).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(out, outOffset + i);
        }
        for (; i < length; i++) {
            out[outOffset + i] = Float.intBitsToFloat(h[from + i] << 16);
        }
    }

    /**
     * 8-bit pools, a run at a time: a run of a key row ({@code blockSize} slots of one dimension, a
     * scale per slot), of a value row's head, or of an MLA row's part (one scale each).
     */
    private void widenScaled(int blockId, int from, int length, float[] out, int outOffset) {
        byte[] c = codes[blockId];
        float[] s = scales[blockId];
        int end = from + length;
        int keysPerLayer = blockSize * kvDim;
        for (int i = from; i < end;) {
            int o = outOffset + (i - from);
            int runEnd;
            if (latent) {
                int row = i / kvDim, d = i % kvDim, part = d < partWidth[0] ? 0 : 1;
                runEnd = Math.min(end, row * kvDim + (part == 0 ? partWidth[0] : kvDim));
                decode(c, i, runEnd - i, s, scaleIndex(row / blockSize, row % blockSize, part, 0), false, out, o);
            } else {
                int layer = i / (2 * keysPerLayer), r = i % (2 * keysPerLayer);
                if (r < keysPerLayer) { // keys, [dim][slot]: the scale changes with the slot
                    int dim = r / blockSize, slot = r % blockSize;
                    runEnd = Math.min(end, i + blockSize - slot);
                    decode(c, i, runEnd - i, s, scaleIndex(layer, slot, 0, dim / groupWidth[0]), true, out, o);
                } else { // values, [slot][dim]: one scale per head
                    int slot = (r - keysPerLayer) / kvDim, d = (r - keysPerLayer) % kvDim, head = d / groupWidth[1];
                    runEnd = Math.min(end, i + (head + 1) * groupWidth[1] - d);
                    decode(c, i, runEnd - i, s, scaleIndex(layer, slot, 1, head), false, out, o);
                }
            }
            i = runEnd;
        }
    }

    private static final VectorSpecies<Float> FLOATS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Byte> CODES = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(FLOATS.length() * Byte.SIZE));
    private static final VectorSpecies<Integer> CODE_BITS = VectorSpecies.of(int.class, FLOATS.vectorShape());

    /**
     * {@code length} codes from {@code c[from]} times their scales: {@code scales[scale + k]} for
     * code k where {@code perCode} (a head's keys across slots), else {@code scales[scale]} for all.
     */
    private void decode(byte[] c, int from, int length, float[] scales, int scale, boolean perCode, float[] out,
            int outOffset) {
        FloatVector one = FloatVector.broadcast(FLOATS, scales[scale]);
        int k = 0;
        for (int upper = FLOATS.loopBound(length); k < upper; k += FLOATS.length()) {
            FloatVector s = perCode ? FloatVector.fromArray(FLOATS, scales, scale + k) : one;
            unscaled(c, from + k).mul(s).intoArray(out, outOffset + k);
        }
        for (; k < length; k++) {
            out[outOffset + k] = type.unscaled(c[from + k]) * scales[perCode ? scale + k : scale];
        }
    }

    /**
     * A vector of codes' values before their scale. int8 converts; E4M3 is assembled as f32 bits
     * (exponent rebiased from 7 to 127, mantissa moved up), subnormals as {@code m · 2^-9}, and
     * its two NaN codes as NaN: what {@link KvCacheType}'s table holds, without a gather.
     */
    private FloatVector unscaled(byte[] c, int at) {
        ByteVector codes = ByteVector.fromArray(CODES, c, at);
        if (type == KvCacheType.INT8) {
            return (FloatVector) codes.convertShape(VectorOperators.B2F, FLOATS, 0);
        }
        IntVector x = ((IntVector) codes.convertShape(VectorOperators.B2I, CODE_BITS, 0)).and(0xFF);
        IntVector e = x.lanewise(VectorOperators.LSHR, 3).and(0xF), m = x.and(7);
        IntVector sign = x.and(0x80).lanewise(VectorOperators.LSHL, 24);
        IntVector normal = e.add(120).lanewise(VectorOperators.LSHL, 23).or(m.lanewise(VectorOperators.LSHL, 20));
        IntVector subnormal = ((FloatVector) m.convertShape(VectorOperators.I2F, FLOATS, 0)).mul(0x1p-9f)
                .reinterpretAsInts();
        FloatVector v = normal.blend(subnormal, e.compare(VectorOperators.EQ, 0)).or(sign).reinterpretAsFloats();
        return v.blend(Float.NaN, x.and(0x7F).compare(VectorOperators.EQ, 0x7F).cast(FLOATS));
    }

    /** Where key dimension {@code dim} of the block's slots starts: {@code blockSize} floats, one per slot. */
    public int keyOffset(int layer, int dim) {
        return (layer * 2 * blockSize) * kvDim + dim * blockSize;
    }

    public int valueOffset(int layer, int slot) {
        return ((layer * 2 + 1) * blockSize + slot) * kvDim;
    }

    /**
     * Copies a block out in the KV store's layout, token-major {@code [layer][slot][width]}
     * little-endian, one column per part (keys and values, or latents and rope keys) in this pool's
     * {@link #type()}, then for scaled types the parts' scales (see {@link #columnBytes}). One pass:
     * keys are transposed back to token-major as they are written.
     */
    public void exportBlock(int blockId, ByteBuffer... columns) {
        copyBlock(blockId, 0, numLayers, columns, true);
    }

    /** The inverse of {@link #exportBlock}: fills a block from the KV store's layout. */
    public void importBlock(int blockId, ByteBuffer... columns) {
        copyBlock(blockId, 0, numLayers, columns, false);
    }

    /** {@link #importBlock} of layers {@code [firstLayer, firstLayer + layers)} only (others may be read meanwhile). */
    public void importLayers(int blockId, int firstLayer, int layers, ByteBuffer... columns) {
        if (firstLayer < 0 || layers <= 0 || firstLayer > numLayers - layers) {
            throw new IllegalArgumentException("layers " + firstLayer + "+" + layers + " outside a block of " + numLayers);
        }
        copyBlock(blockId, firstLayer, layers, columns, false);
    }

    private void copyBlock(int blockId, int firstLayer, int layers, ByteBuffer[] columns, boolean out) {
        long[] expected = columnBytes(layers);
        if (columns.length != expected.length) {
            throw new IllegalArgumentException("a block of " + type.id() + " has " + expected.length + " columns, got "
                    + columns.length);
        }
        for (int c = 0; c < columns.length; c++) {
            if (columns[c].remaining() != expected[c] || columns[c].order() != ByteOrder.LITTLE_ENDIAN) {
                throw new IllegalArgumentException("block column " + c + " needs " + expected[c]
                        + " little-endian bytes, got " + columns[c].remaining() + " " + columns[c].order());
            }
        }
        for (int part = 0; part < 2; part++) {
            for (int layer = firstLayer; layer < firstLayer + layers; layer++) {
                for (int slot = 0; slot < blockSize; slot++) {
                    int columnRow = (layer - firstLayer) * blockSize + slot;
                    if (scales != null) {
                        copyScales(scales[blockId], columns[2 + part], part, layer, slot, columnRow, out);
                    }
                    int row = columnRow * partWidth[part];
                    for (int d = 0; d < partWidth[part]; d++) {
                        copyValue(blockId, index(layer, slot, part, d), columns[part],
                                columns[part].position() + (row + d) * type.bytes(), out);
                    }
                }
            }
        }
    }

    private void copyScales(float[] s, ByteBuffer column, int part, int layer, int slot, int row, boolean out) {
        for (int g = 0; g < groupsPerPart; g++) {
            int pos = column.position() + (row * groupsPerPart + g) * Float.BYTES;
            if (out) {
                column.putFloat(pos, s[scaleIndex(layer, slot, part, g)]);
            } else {
                s[scaleIndex(layer, slot, part, g)] = column.getFloat(pos);
            }
        }
    }

    /** One value between a block and its column: each pool copies what it keeps (a float, 16 bits, a code). */
    private void copyValue(int blockId, int at, ByteBuffer column, int pos, boolean out) {
        if (halves != null) {
            if (out) {
                column.putShort(pos, halves[blockId][at]);
            } else {
                halves[blockId][at] = column.getShort(pos);
            }
        } else if (scales == null) {
            if (out) {
                column.putFloat(pos, blocks[blockId][at]);
            } else {
                blocks[blockId][at] = column.getFloat(pos);
            }
        } else if (out) {
            column.put(pos, codes[blockId][at]);
        } else {
            codes[blockId][at] = column.get(pos);
        }
    }

    /** Where value {@code d} of a part of a slot's row lives in the block's floats. */
    private int index(int layer, int slot, int part, int d) {
        if (latent) {
            return rowOffset(layer, slot) + (part == 0 ? d : partWidth[0] + d);
        }
        return part == 0 ? keyOffset(layer, d) + slot : valueOffset(layer, slot) + d;
    }

    /** Slot-minor, so the scales of a head's keys across a block's slots lie side by side, as keys do. */
    private int scaleIndex(int layer, int slot, int part, int group) {
        return ((layer * 2 + part) * groupsPerPart + group) * blockSize + slot;
    }

    /**
     * Writes one token's key and value for {@code layer} into {@code slot} of a block: the value as a
     * row, the key spread across the block (keys are transposed within a block, as attention reads them).
     */
    public void writeKv(int blockId, int layer, int slot, float[] k, int kOffset, float[] v, int vOffset) {
        writePart(blockId, layer, slot, 0, k, kOffset);
        writePart(blockId, layer, slot, 1, v, vOffset);
    }

    /** MLA pools: writes one token's row (latent then rope key) for {@code layer} into {@code slot} of a block. */
    public void writeRow(int blockId, int layer, int slot, float[] row, int offset) {
        writePart(blockId, layer, slot, 0, row, offset);
        writePart(blockId, layer, slot, 1, row, offset + partWidth[0]);
    }

    /** One part of a token's row, each value rounded to the type (scaled types: per group, the scale kept). */
    private void writePart(int blockId, int layer, int slot, int part, float[] x, int offset) {
        if (halves != null) {
            short[] h = halves[blockId];
            for (int d = 0; d < partWidth[part]; d++) {
                h[index(layer, slot, part, d)] = type.bits16(x[offset + d]);
            }
            return;
        }
        if (!type.scaled()) { // f32
            float[] b = blocks[blockId];
            for (int d = 0; d < partWidth[part]; d++) {
                b[index(layer, slot, part, d)] = x[offset + d];
            }
            return;
        }
        byte[] c = codes[blockId];
        int width = groupWidth[part];
        for (int g = 0; g < groupsPerPart; g++) {
            int from = offset + g * width;
            float amax = 0;
            for (int i = 0; i < width; i++) {
                amax = Math.max(amax, Math.abs(x[from + i]));
            }
            float scale = type.scaleFor(amax);
            scales[blockId][scaleIndex(layer, slot, part, g)] = scale;
            for (int i = 0; i < width; i++) {
                c[index(layer, slot, part, g * width + i)] = (byte) type.encode(x[from + i], scale);
            }
        }
    }

    /** MLA pools: where the row of {@code slot} in {@code layer} starts ({@code kvDim} floats). */
    public int rowOffset(int layer, int slot) {
        return (layer * blockSize + slot) * kvDim;
    }
}
