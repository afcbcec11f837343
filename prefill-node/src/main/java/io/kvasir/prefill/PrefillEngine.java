package io.kvasir.prefill;

import java.util.function.Consumer;

import io.kvasir.engine.Model;
import io.kvasir.engine.loop.CpuForward;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.HostBlockManager;
import io.kvasir.node.StorePrefixCache;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * A prefill node on the CPU: for one prompt, load what the store has, compute the rest in chunks of
 * {@code chunk} tokens, put every full block into the store (before answering, so the decode node
 * finds them), choose the first token and free everything.
 */
public final class PrefillEngine implements Prefiller {
    private final PrefillLoop<HostBlockManager.Kv> loop;

    public PrefillEngine(Model model, StorePrefixCache cache, int blockSize, int maxBlocks, int chunk) {
        HostBlockManager blocks = new HostBlockManager(model.transformer().newKvPool(blockSize, maxBlocks, cache.type()), cache,
                HostBlockManager.LocalTier.NONE);
        this.loop = new PrefillLoop<>(blocks, new CpuForward<>(model.transformer(), HostBlockManager.Kv::table, chunk, 1),
                model, cache, "prefill-loop");
    }

    /** @throws IllegalArgumentException an empty prompt, a token outside the vocabulary, a prompt beyond the context or this node's KV */
    @Override
    public Result prefill(String tenant, int[] prompt, SamplingParams sampling, Consumer<Runnable> onCancel) {
        return loop.prefill(tenant, prompt, sampling, onCancel);
    }

    @Override
    public void registerMetrics(PrometheusRegistry registry, String modelName) {
        loop.registerMetrics(registry, modelName);
    }

    @Override
    public void close() {
        loop.close();
    }
}
