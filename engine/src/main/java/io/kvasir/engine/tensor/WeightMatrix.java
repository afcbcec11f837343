package io.kvasir.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A row-major weight matrix in its stored dtype, backed by a slice of a memory-mapped file
 * (never copied onto the heap). {@code y = W·x}: row r holds the weights of output r over all
 * {@code cols} inputs. A vector (norm weight, bias) is a matrix of one row.
 *
 * @param name  the checkpoint's tensor name, for error messages
 * @param rows  output dimension
 * @param cols  input dimension (the contiguous one)
 */
public record WeightMatrix(String name, DType dtype, int rows, int cols, MemorySegment data) {
    public WeightMatrix {
        Objects.requireNonNull(name);
        if (cols % dtype.blockSize != 0) {
            throw new IllegalArgumentException(name + ": " + cols + " columns is not a multiple of the "
                    + dtype + " block size " + dtype.blockSize);
        }
        long expected = (long) rows * dtype.bytesFor(cols);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes, expected " + expected);
        }
    }

    public long rowBytes() {
        return dtype.bytesFor(cols);
    }
}
