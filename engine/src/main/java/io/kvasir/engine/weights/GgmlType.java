package io.kvasir.engine.weights;

import io.kvasir.engine.tensor.DType;

/** ggml tensor type ids as GGUF stores them; only some map to a {@link DType} Kvasir runs. */
enum GgmlType {
    F32(0, DType.F32), F16(1, DType.F16), Q4_0(2, DType.Q4_0), Q4_1(3, DType.Q4_1), Q5_0(6, DType.Q5_0),
    Q5_1(7, DType.Q5_1), Q8_0(8, DType.Q8_0), Q8_1(9, null), Q2_K(10, DType.Q2_K), Q3_K(11, DType.Q3_K), Q4_K(12, DType.Q4_K),
    Q5_K(13, DType.Q5_K), Q6_K(14, DType.Q6_K), Q8_K(15, null), I8(24, null), I16(25, null), I32(26, null), I64(27, null),
    F64(28, null), BF16(30, DType.BF16);

    final int id;
    final DType dtype;

    GgmlType(int id, DType dtype) {
        this.id = id;
        this.dtype = dtype;
    }

    static String nameOf(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t.name();
            }
        }
        return "unknown";
    }

    /** The names of the types Kvasir runs, for error messages. */
    static String supported() {
        StringBuilder b = new StringBuilder();
        for (GgmlType t : values()) {
            if (t.dtype != null) {
                b.append(b.isEmpty() ? "" : ", ").append(t.name());
            }
        }
        return b.toString();
    }

    static DType dtypeOf(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t.dtype;
            }
        }
        return null;
    }
}
