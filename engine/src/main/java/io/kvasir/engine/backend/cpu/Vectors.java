package io.kvasir.engine.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector shapes every kernel uses, fixed once per JVM. They must be {@code static final}:
 * C2 only turns Vector API calls into SIMD instructions when the species is a constant, and a
 * species passed around as a value falls back to boxed, allocating Java code (~100x slower).
 *
 * <p>{@code -Dkvasir.cpu.vectorBits=N}: 128, 256 or 512 picks the float vector width (default: the
 * CPU's widest); 0 turns the vector kernels off everywhere (the scalar paths then run).
 */
final class Vectors {
    static final int BITS = configuredBits();
    static final boolean ENABLED = BITS > 0;
    private static final int SHAPE_BITS = ENABLED ? BITS : FloatVector.SPECIES_PREFERRED.vectorBitSize();

    /** floats, the width of every accumulation */
    static final VectorSpecies<Float> F = VectorSpecies.of(float.class, VectorShape.forBitSize(SHAPE_BITS));
    /** halves / bfloat16s to widen into {@link #F}: same lane count, half the bits */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(SHAPE_BITS / 2));
    /** ints of the same lane count as {@link #F}, for bit manipulation of widened halves */
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(SHAPE_BITS));
    /** int8 quants: the narrowest byte vector is 64 bits, so 128-bit floats take two parts of one load */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, SHAPE_BITS / 4)));
    static final int B_PARTS = B.length() / F.length();

    private Vectors() {
    }

    private static int configuredBits() {
        int preferred = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        int bits = Integer.getInteger("kvasir.cpu.vectorBits", preferred);
        if (bits != 0 && bits != 128 && bits != 256 && bits != 512) {
            throw new IllegalArgumentException("kvasir.cpu.vectorBits must be 0, 128, 256 or 512, got " + bits);
        }
        if (bits > FloatVector.SPECIES_MAX.vectorBitSize()) {
            throw new IllegalArgumentException("kvasir.cpu.vectorBits=" + bits + " exceeds this CPU's widest vectors ("
                    + FloatVector.SPECIES_MAX.vectorBitSize() + " bits)");
        }
        return bits;
    }
}
