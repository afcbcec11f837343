package io.kvasir.engine.weights;

import io.kvasir.engine.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor of a checkpoint file.
 *
 * @param shape row-major (outermost first, as numpy and PyTorch write it); GGUF's innermost-first
 *              dims are reversed on read, so both formats describe a tensor the same way
 * @param data  the tensor's bytes: a slice of the file's single memory mapping
 */
public record TensorInfo(String name, DType dtype, long[] shape, MemorySegment data) {
    /** More elements than any tensor has (2^48): a shape beyond it is a corrupt file, and its byte count would overflow. */
    static final long MAX_ELEMENTS = 1L << 48;

    /** @throws IllegalArgumentException a negative dimension, or more than {@link #MAX_ELEMENTS} elements */
    public TensorInfo {
        long n = 1;
        for (long d : shape) {
            if (d < 0 || (d > 0 && n > MAX_ELEMENTS / d)) {
                throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape)
                        + (d < 0 ? " has a negative dimension" : " has more than 2^48 elements"));
            }
            n *= d;
        }
    }

    public long numElements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}
