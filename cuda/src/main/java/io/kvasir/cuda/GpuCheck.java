package io.kvasir.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import jcuda.Pointer;
import jcuda.driver.CUevent;

/**
 * What scripts/gpu-check.sh runs on a GPU machine: every kernel against the CPU, then the figures
 * the GPU issue asks for: GEMV weight bandwidth at the 1B model's shapes (decode's bound) and KV
 * block copies between pinned host memory and the device. Exit 1 if a check fails, 2 with no GPU.
 */
public final class GpuCheck {
    private GpuCheck() {
    }

    public static void main(String[] args) {
        var missing = CudaDevice.unavailable();
        if (missing.isPresent()) {
            System.out.println("gpu-check: no GPU here: " + missing.get());
            System.exit(2);
        }
        try (CudaDevice device = CudaDevice.open(0)) {
            System.out.println("gpu-check: " + device);
            boolean ok = true;
            for (KernelChecks.Result r : new KernelChecks(device).runAll()) {
                System.out.printf("  %-48s max |diff| %.3g (tolerance %.0g) %s%n", r.name(), r.maxDiff(), r.tolerance(),
                        r.passed() ? "ok" : "FAILED");
                ok &= r.passed();
            }
            gemvBandwidth(device);
            copyBandwidth(device);
            System.exit(ok ? 0 : 1);
        }
    }

    /** f16 GEMV, batch 1, over the 1B model's FFN shape (8192 x 2048): weight bytes read per second. */
    static void gemvBandwidth(CudaDevice device) {
        int rows = 8192, cols = 2048, reps = 200;
        CudaKernels k = new CudaKernels(device);
        try (DeviceBuffer w = new DeviceBuffer(2L * rows * cols); DeviceBuffer x = new DeviceBuffer(4L * cols);
                DeviceBuffer out = new DeviceBuffer(4L * rows)) {
            k.matmul(CudaKernels.WeightType.F16, w, x, out, rows, cols, 1);
            float ms = timed(device, () -> {
                for (int i = 0; i < reps; i++) {
                    k.matmul(CudaKernels.WeightType.F16, w, x, out, rows, cols, 1);
                }
            });
            System.out.printf("  gemv f16 %dx%d batch 1: %.0f GB/s of weights%n", rows, cols,
                    2.0 * rows * cols * reps / (ms / 1e3) / 1e9);
        }
    }

    /** A 1B-model KV block (16 tokens x 16 layers x 2 x 512 f32 = 1 MiB) and 64 of them, pinned host <-> device. */
    static void copyBandwidth(CudaDevice device) {
        long bytes = 64L << 20;
        Pointer host = new Pointer();
        cuMemAllocHost(host, bytes);
        try (DeviceBuffer d = new DeviceBuffer(bytes)) {
            float h2d = timed(device, () -> cuMemcpyHtoD(d.ptr, host, bytes));
            float d2h = timed(device, () -> cuMemcpyDtoH(host, d.ptr, bytes));
            System.out.printf("  KV blocks host->device %.1f GB/s, device->host %.1f GB/s (64 MiB, pinned)%n",
                    bytes / (h2d / 1e3) / 1e9, bytes / (d2h / 1e3) / 1e9);
        } finally {
            cuMemFreeHost(host);
        }
    }

    private static float timed(CudaDevice device, Runnable work) {
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        cuEventCreate(start, 0);
        cuEventCreate(stop, 0);
        cuEventRecord(start, null);
        work.run();
        cuEventRecord(stop, null);
        cuEventSynchronize(stop);
        float[] ms = new float[1];
        cuEventElapsedTime(ms, start, stop);
        device.synchronize();
        return ms[0];
    }
}
