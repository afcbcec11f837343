package io.kvasir.engine.backend.cpu;

import io.kvasir.engine.tensor.WeightMatrix;

/** Picks the row kernel of a weight's dtype, on the vector or the scalar path. */
record RowKernels(boolean vector) {

    float dot(WeightMatrix w, long rowOffset, float[] x, int xOff) {
        var seg = w.data();
        int n = w.cols();
        return switch (w.dtype()) {
            case F32 -> vector ? F32Rows.dot(seg, rowOffset, x, xOff, n) : F32Rows.dotScalar(seg, rowOffset, x, xOff, n);
            case F16 -> vector ? F16Rows.dot(seg, rowOffset, x, xOff, n) : F16Rows.dotScalar(seg, rowOffset, x, xOff, n);
            case BF16 -> vector ? Bf16Rows.dot(seg, rowOffset, x, xOff, n) : Bf16Rows.dotScalar(seg, rowOffset, x, xOff, n);
            case Q8_0 -> vector ? Q8_0Rows.dot(seg, rowOffset, x, xOff, n) : Q8_0Rows.dotScalar(seg, rowOffset, x, xOff, n);
            case Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> vector ? LowBitRows.dot(w.dtype(), seg, rowOffset, x, xOff, n)
                    : LowBitRows.dotScalar(w.dtype(), seg, rowOffset, x, xOff, n);
        };
    }

    void dequantize(WeightMatrix w, long rowOffset, float[] out, int outOff) {
        var seg = w.data();
        int n = w.cols();
        switch (w.dtype()) {
            case F32 -> F32Rows.dequantize(seg, rowOffset, out, outOff, n);
            case F16 -> { if (vector) F16Rows.dequantizeVector(seg, rowOffset, out, outOff, n); else F16Rows.dequantize(seg, rowOffset, out, outOff, n); }
            case BF16 -> { if (vector) Bf16Rows.dequantizeVector(seg, rowOffset, out, outOff, n); else Bf16Rows.dequantize(seg, rowOffset, out, outOff, n); }
            case Q8_0 -> { if (vector) Q8_0Rows.dequantizeVector(seg, rowOffset, out, outOff, n); else Q8_0Rows.dequantize(seg, rowOffset, out, outOff, n); }
            case Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> LowBitRows.dequantize(w.dtype(), seg, rowOffset, out, outOff, n, vector);
        }
    }
}
