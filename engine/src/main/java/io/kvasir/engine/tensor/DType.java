package io.kvasir.engine.tensor;

/**
 * Element types of weight tensors. Quantized types store {@code blockSize} elements in
 * {@code blockBytes} bytes; plain types are blocks of one element.
 */
public enum DType {
    F32(1, 4),
    F16(1, 2),
    BF16(1, 2),
    /** ggml Q8_0: per 32 elements one F16 scale d, then 32 int8 q; value = d * q. */
    Q8_0(32, 34),
    /** ggml's 2- to 6-bit formats ({@link QuantizedBlocks} says how each is read). */
    Q4_0(32, 18), Q4_1(32, 20), Q5_0(32, 22), Q5_1(32, 24), Q2_K(256, 84), Q3_K(256, 110), Q4_K(256, 144), Q5_K(256, 176),
    Q6_K(256, 210);

    public final int blockSize;
    public final int blockBytes;

    DType(int blockSize, int blockBytes) {
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** Bytes taken by {@code numElements} elements; they must fill whole blocks. */
    public long bytesFor(long numElements) {
        return numElements / blockSize * blockBytes;
    }
}
