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
 * What scripts/gpu-check.sh runs on a GPU machine: every kernel against the CPU; every model given
 * (GGUF files) on the GPU against the CPU engine (logits after a prompt, 20 greedy tokens); then
 * the figures the GPU issue asks for: prefill and decode tok/s of a Llama-3.2-1B-shaped F16 model
 * with the HBM bound, GEMV weight bandwidth, and KV block copies between pinned host memory and
 * the device. Exit 1 if a check fails, 2 with no GPU.
 *
 * <p>{@code GpuCheck [--no-speed] [--work DIR] MODEL.gguf…}
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
            java.nio.file.Path work = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"));
            boolean speed = true;
            for (int a = 0; a < args.length; a++) {
                if (args[a].equals("--no-speed")) {
                    speed = false;
                } else if (args[a].equals("--work")) {
                    work = java.nio.file.Path.of(args[++a]);
                } else {
                    try {
                        ModelCheck.Agreement r = ModelCheck.compare(device, java.nio.file.Path.of(args[a]), 24, 20);
                        boolean pass = r.maxLogitDiff() <= 1e-2 && r.sameTokens();
                        System.out.printf("  %-30s logits max |diff| %.3g, greedy tokens %s %s%n", r.model(), r.maxLogitDiff(),
                                r.sameTokens() ? "equal" : "DIFFER " + java.util.Arrays.toString(r.cpuTokens()) + " vs "
                                        + java.util.Arrays.toString(r.gpuTokens()), pass ? "ok" : "FAILED");
                        ok &= pass;
                    } catch (IllegalArgumentException e) {
                        System.out.printf("  %-30s skipped: %s%n", java.nio.file.Path.of(args[a]).getFileName(), e.getMessage());
                    }
                }
            }
            for (int a = 0; a < args.length; a++) {
                if (args[a].endsWith("llama-gqa.gguf")) {
                    double diff = ModelCheck.tierRoundTrip(device, java.nio.file.Path.of(args[a]));
                    System.out.printf("  device KV tier: cached and evicted+imported prefix vs cold, max |diff| %.3g %s%n",
                            diff, diff <= 1e-4 ? "ok" : "FAILED");
                    ok &= diff <= 1e-4;
                }
            }
            gemvBandwidth(device);
            copyBandwidth(device);
            if (speed) {
                java.nio.file.Path model = SyntheticModel.llama1b(work);
                double[] s512 = ModelCheck.speed(device, model, 512, 64);
                double[] s2k = ModelCheck.speed(device, model, 2048, 16);
                // decode reads every weight once per token (the embedding table: one row)
                double bytesPerToken = 2.0 * (16L * (2048L * 2048 * 2 + 2 * 512L * 2048 + 3 * 8192L * 2048) + 128256L * 2048);
                System.out.printf("  synthetic 1B F16: prefill %.0f tok/s (512) / %.0f tok/s (2048), decode %.1f tok/s "
                        + "(%.2f GB of weights per token)%n", s512[0], s2k[0], s512[1], bytesPerToken / 1e9);
                System.out.printf("  decode reads %.0f GB/s of weights: divide by the GPU's HBM bandwidth for the "
                        + "fraction of the bound (H100 SXM 3350 GB/s, H200 4800 GB/s)%n", s512[1] * bytesPerToken / 1e9);
                // prefill does 2 FLOPs per weight per token; f16 weights are 2 bytes each
                double flopsPerToken = 2 * (bytesPerToken / 2);
                System.out.printf("  prefill (2048) runs %.1f TFLOP/s: divide by the GPU's dense bf16 peak (H100 SXM 989, "
                        + "H200 989) for the fraction%n", s2k[0] * flopsPerToken / 1e12);
            }
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
