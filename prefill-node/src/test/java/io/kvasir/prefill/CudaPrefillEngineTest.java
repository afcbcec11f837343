package io.kvasir.prefill;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.kvasir.cuda.CudaDevice;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.store.KvStoreMember;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.StorePrefixCache;

/**
 * The GPU prefill node against the CPU one, through a real store member: same first token, same
 * blocks stored (the CPU node then finds the GPU node's prefix), and a repeat served from the
 * device tier. Skipped, with the reason, where no GPU is.
 */
class CudaPrefillEngineTest {
    static final Path MODEL = Path.of("..", "engine", "src", "test", "resources", "golden", "llama-gqa.gguf");

    @Test
    void aGpuPrefillNodeStoresWhatTheCpuOneWouldAndChoosesTheSameToken() {
        var missing = CudaDevice.unavailable();
        Assumptions.assumeTrue(missing.isEmpty(), () -> "skipped: " + missing.orElse(""));
        String cluster = "cuda-prefill-" + UUID.randomUUID();
        KvStoreMember member = KvStoreMember.start(StoreConfig.local().withCluster(cluster).withPorts(5871, 0)
                .withPeers(List.of("127.0.0.1:5871")).withBackupCount(0));
        var a = member.hazelcast().getCluster().getLocalMember().getAddress();
        try (KvStoreClient client = KvStoreClient.connect(cluster, List.of(a.getHost() + ":" + a.getPort()));
                VectorCpuBackend backend = new VectorCpuBackend(2); Model model = Model.load(MODEL, backend);
                StorePrefixCache cache = NodeCaches.storeCache(client, model, 16);
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
        } finally {
            member.kill();
        }
    }
}
