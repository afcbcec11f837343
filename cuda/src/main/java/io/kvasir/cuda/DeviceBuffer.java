package io.kvasir.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/** Device memory of a fixed size, with copies to and from Java arrays. */
final class DeviceBuffer implements AutoCloseable {
    final CUdeviceptr ptr = new CUdeviceptr();
    private final long bytes;

    public DeviceBuffer(long bytes) {
        this.bytes = bytes;
        cuMemAlloc(ptr, Math.max(1, bytes));
    }

    public static DeviceBuffer of(float[] values) {
        DeviceBuffer b = new DeviceBuffer(4L * values.length);
        cuMemcpyHtoD(b.ptr, Pointer.to(values), 4L * values.length);
        return b;
    }

    public static DeviceBuffer of(int[] values) {
        DeviceBuffer b = new DeviceBuffer(4L * values.length);
        cuMemcpyHtoD(b.ptr, Pointer.to(values), 4L * values.length);
        return b;
    }

    /** Raw 16-bit values (f16 or bf16 bit patterns). */
    public static DeviceBuffer of(short[] values) {
        DeviceBuffer b = new DeviceBuffer(2L * values.length);
        cuMemcpyHtoD(b.ptr, Pointer.to(values), 2L * values.length);
        return b;
    }

    public void copyTo(float[] out) {
        cuMemcpyDtoH(Pointer.to(out), ptr, Math.min(bytes, 4L * out.length));
    }

    @Override
    public void close() {
        cuMemFree(ptr);
    }
}
