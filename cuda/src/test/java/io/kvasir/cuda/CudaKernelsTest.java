package io.kvasir.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Every kernel against the CPU; skipped, with the reason, where no GPU (or no built kernels) exists. */
class CudaKernelsTest {
    @Test
    void everyKernelMatchesTheCpu() {
        var missing = CudaDevice.unavailable();
        Assumptions.assumeTrue(missing.isEmpty(), () -> "skipped: " + missing.orElse(""));
        try (CudaDevice device = CudaDevice.open(0)) {
            for (KernelChecks.Result r : new KernelChecks(device).runAll()) {
                assertTrue(r.passed(), r.name() + ": max |diff| " + r.maxDiff() + " > " + r.tolerance());
            }
        }
    }
}
