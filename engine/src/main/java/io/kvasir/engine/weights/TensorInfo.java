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
