package io.kvasir.cuda;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceComputeCapability;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * One GPU through the CUDA driver API (JCuda's binding needs only the driver's libcuda.so.1): its
 * context and Kvasir's kernel module, loaded from the fatbin the build compiled with nvcc.
 * {@link #unavailable()} says why a GPU cannot be used here (no driver, no device, kernels not
 * built), so callers and tests fall back or skip with the reason.
 */
public final class CudaDevice implements AutoCloseable {
    static final String FATBIN = "kvasir_kernels.fatbin";

    private final CUcontext context;
    private final CUmodule module;
    private final String name;
    private final int major;
    private final int minor;
    private final long memoryBytes;

    private CudaDevice(CUcontext context, CUmodule module, String name, int major, int minor, long memoryBytes) {
        this.context = context;
        this.module = module;
        this.name = name;
        this.major = major;
        this.minor = minor;
        this.memoryBytes = memoryBytes;
    }

    private static volatile Optional<String> unavailable;

    /** Why no GPU can be used in this process, or empty when {@link #open} will work (asked once per process). */
    public static Optional<String> unavailable() {
        Optional<String> known = unavailable;
        if (known == null) {
            known = probe();
            unavailable = known;
        }
        return known;
    }

    private static Optional<String> probe() {
        if (CudaDevice.class.getResource(FATBIN) == null) {
            return Optional.of("the CUDA kernels were not built (no /usr/local/cuda/bin/nvcc when this jar was built)");
        }
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetCount(count);
            return count[0] > 0 ? Optional.empty() : Optional.of("the CUDA driver reports no GPU");
        } catch (LinkageError e) { // no libcuda.so.1: JCuda's native library does not load
            return Optional.of("no CUDA driver (libcuda.so.1) here: " + e.getMessage().lines().findFirst().orElse(""));
        } catch (RuntimeException e) {
            return Optional.of("the CUDA driver did not initialise: " + e.getMessage());
        }
    }

    /** Opens GPU {@code ordinal}: a context on it, current on the calling thread, and the kernels. */
    public static CudaDevice open(int ordinal) {
        unavailable().ifPresent(reason -> {
            throw new IllegalStateException("no GPU: " + reason);
        });
        CUdevice device = new CUdevice();
        cuDeviceGet(device, ordinal);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, device);
        int[] major = new int[1];
        int[] minor = new int[1];
        cuDeviceComputeCapability(major, minor, device);
        long[] memory = new long[1];
        cuDeviceTotalMem(memory, device);
        CUcontext context = new CUcontext();
        cuCtxCreate(context, 0, device);
        CUmodule module = new CUmodule();
        cuModuleLoadData(module, fatbin());
        String name = new String(nameBytes, 0, indexOfZero(nameBytes));
        return new CudaDevice(context, module, name, major[0], minor[0], memory[0]);
    }

    private static byte[] fatbin() {
        try (InputStream in = CudaDevice.class.getResourceAsStream(FATBIN)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the kernels (" + FATBIN + "): " + e.getMessage(), e);
        }
    }

    private static int indexOfZero(byte[] b) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] == 0) {
                return i;
            }
        }
        return b.length;
    }

    CUmodule module() {
        return module;
    }

    public void synchronize() {
        cuCtxSynchronize();
    }

    @Override
    public String toString() {
        return name + " (compute " + major + "." + minor + ", " + (memoryBytes >> 20) + " MiB)";
    }

    @Override
    public void close() {
        cuCtxDestroy(context);
    }
}
