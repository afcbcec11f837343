package io.kvasir.engine.backend.cpu;

import io.kvasir.engine.tensor.WeightMatrix;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** Picks the row kernel of a weight's dtype; a null species means the scalar path. */
record RowKernels(VectorSpecies<Float> floatSpecies) {

    static RowKernels forBits(int bits) {
        return switch (bits) {
            case 0 -> new RowKernels(null);
            case 128, 256, 512 -> new RowKernels(VectorSpecies.of(float.class, VectorShape.forBitSize(bits)));
            default -> throw new IllegalArgumentException("kvasir.cpu.vectorBits must be 0, 128, 256 or 512, got " + bits);
        };
    }

    int vectorBits() {
        return floatSpecies == null ? 0 : floatSpecies.vectorBitSize();
    }

    float dot(WeightMatrix w, long rowOffset, float[] x, int xOff) {
        var sp = floatSpecies;
        var seg = w.data();
        int n = w.cols();
        return switch (w.dtype()) {
            case F32 -> sp == null ? F32Rows.dotScalar(seg, rowOffset, x, xOff, n) : F32Rows.dot(sp, seg, rowOffset, x, xOff, n);
            case F16 -> sp == null ? F16Rows.dotScalar(seg, rowOffset, x, xOff, n) : F16Rows.dot(sp, seg, rowOffset, x, xOff, n);
            case BF16 -> sp == null ? Bf16Rows.dotScalar(seg, rowOffset, x, xOff, n) : Bf16Rows.dot(sp, seg, rowOffset, x, xOff, n);
            case Q8_0 -> sp == null ? Q8_0Rows.dotScalar(seg, rowOffset, x, xOff, n) : Q8_0Rows.dot(sp, seg, rowOffset, x, xOff, n);
        };
    }

    void dequantize(WeightMatrix w, long rowOffset, float[] out, int outOff) {
        var seg = w.data();
        int n = w.cols();
        switch (w.dtype()) {
            case F32 -> F32Rows.dequantize(seg, rowOffset, out, outOff, n);
            case F16 -> F16Rows.dequantize(seg, rowOffset, out, outOff, n);
            case BF16 -> Bf16Rows.dequantize(seg, rowOffset, out, outOff, n);
            case Q8_0 -> Q8_0Rows.dequantize(seg, rowOffset, out, outOff, n);
        }
    }

}
