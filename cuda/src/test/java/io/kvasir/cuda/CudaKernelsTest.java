package io.kvasir.cuda;

import io.kvasir.testing.Golden;
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

    /** The F32, F16 and Q8_0 test models whose llama.cpp references the engine's tests check. */
    @Test
    void modelsOnTheGpuGiveTheCpuEnginesLogitsAndGreedyTokens() {
        var missing = CudaDevice.unavailable();
        Assumptions.assumeTrue(missing.isEmpty(), () -> "skipped: " + missing.orElse(""));
        java.nio.file.Path golden = Golden.DIR;
        try (CudaDevice device = CudaDevice.open(0)) {
            for (String model : new String[] {"llama-gqa.gguf", "llama-gqa-f16.gguf", "llama-wide-q8_0.gguf", "qwen2-tiny.gguf"}) {
                ModelCheck.Agreement r = ModelCheck.compare(device, golden.resolve(model), 24, 20);
                assertTrue(r.maxLogitDiff() <= 1e-2, model + ": logits differ by " + r.maxLogitDiff());
                assertTrue(r.sameTokens(), model + ": greedy tokens differ");
            }
        }
    }

    @Test
    void theDeviceKvTierKeepsAndReturnsBlocksExactly() {
        var missing = CudaDevice.unavailable();
        Assumptions.assumeTrue(missing.isEmpty(), () -> "skipped: " + missing.orElse(""));
        try (CudaDevice device = CudaDevice.open(0)) {
            double diff = ModelCheck.tierRoundTrip(device, Golden.model("llama-gqa"));
            assertTrue(diff <= 1e-4, "a cached or re-imported prefix changes the logits by " + diff);
        }
    }
}
