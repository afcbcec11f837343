package io.kvasir.prefill;

import io.kvasir.testing.LocalStore;
import io.kvasir.testing.Golden;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.kvasir.cuda.CudaDevice;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.StorePrefixCache;

/**
 * The GPU prefill node against the CPU one, through a real store member: same first token, same
 * blocks stored (the CPU node then finds the GPU node's prefix), and a repeat served from the
 * device tier. Skipped, with the reason, where no GPU is.
 */
class CudaPrefillEngineTest {
    static final Path MODEL = Golden.model("llama-gqa");

    @Test
    void aGpuPrefillNodeStoresWhatTheCpuOneWouldAndChoosesTheSameToken() {
        var missing = CudaDevice.unavailable();
        Assumptions.assumeTrue(missing.isEmpty(), () -> "skipped: " + missing.orElse(""));
        try (LocalStore store = LocalStore.start();
                VectorCpuBackend backend = new VectorCpuBackend(2); Model model = Model.load(MODEL, backend);
                StorePrefixCache cache = NodeCaches.storeCache(store.client(), model, 16, KvCacheType.F32);
                CudaDevice device = CudaDevice.open(0);
                CudaPrefillEngine gpu = new CudaPrefillEngine(device, model, cache, 16, 64, 512)) {
            PrefillEngine cpu = new PrefillEngine(model, cache, 16, 64, 64);
            int[] prompt = new int[70];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = 3 + (i * 7919 + 5) % 250;
            }
            Prefiller.Result onGpu = gpu.prefill("alpha", prompt, SamplingParams.GREEDY);
            assertEquals(0, onGpu.cachedTokens());
            assertEquals(4, onGpu.storedBlocks());
            Prefiller.Result onCpu = cpu.prefill("alpha", prompt, SamplingParams.GREEDY);
            assertEquals(64, onCpu.cachedTokens(), "the CPU node finds the GPU node's blocks in the store");
            assertEquals(onCpu.firstToken(), onGpu.firstToken());
            Prefiller.Result again = gpu.prefill("alpha", prompt, SamplingParams.GREEDY);
            assertEquals(64, again.cachedTokens(), "the repeat's prefix comes from the device tier");
            assertEquals(onGpu.firstToken(), again.firstToken());
        }
    }
}
