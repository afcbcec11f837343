package io.kvasir.prefill;

import java.util.function.Consumer;

import io.kvasir.cuda.CudaDevice;
import io.kvasir.cuda.CudaForward;
import io.kvasir.cuda.CudaKernels;
import io.kvasir.cuda.CudaLlamaModel;
import io.kvasir.cuda.DeviceKvTier;
import io.kvasir.engine.Model;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.DeviceBlockManager;
import io.kvasir.node.DevicePrefix;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.telemetry.MetricFamilies;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/**
 * A prefill node on a GPU ({@code kvasir prefill --device cuda}). The prompt's cached prefix comes
 * from the device KV tier when it holds it (a block reference, no copy), else from the KV store
 * (through a host staging pool into the device tier); the rest is computed on the GPU; the new full
 * blocks go to the store (device → host → Arrow) before the answer, and stay cached on the device
 * under their keys for the next prompt with the same prefix.
 */
public final class CudaPrefillEngine implements Prefiller {
    private final DeviceKvTier tier;
    private final CudaLlamaModel gpu;
    private final PrefillLoop<DeviceBlockManager.Kv> loop;

    /** {@code deviceBlocks}: the device KV tier's size; prompts up to {@code maxPrompt} tokens. */
    public CudaPrefillEngine(CudaDevice device, Model model, StorePrefixCache cache, int blockSize, int deviceBlocks,
            int maxPrompt) {
        var c = model.transformer().config();
        int maxBlocks = (maxPrompt + blockSize - 1) / blockSize;
        this.tier = new DeviceKvTier(new CudaKernels.KvGeometry(c.numLayers(), c.numKvHeads(), c.headDim(), blockSize,
                maxBlocks), deviceBlocks, evicted -> { }); // evicted blocks are in the store already
        this.gpu = new CudaLlamaModel(device, model.transformer(), tier, maxPrompt, 512, blockSize);
        DevicePrefix prefix = new DevicePrefix(tier, cache, model.transformer().newKvPool(blockSize, maxBlocks), blockSize,
                c.numLayers() * blockSize * c.kvDim());
        this.loop = new PrefillLoop<>(new DeviceBlockManager(gpu, prefix, blockSize, deviceBlocks),
                new CudaForward<>(gpu, DeviceBlockManager.Kv::sequence, c.vocabSize()), model, cache, "cuda-prefill-loop");
    }

    @Override
    public Result prefill(String tenant, int[] prompt, SamplingParams sampling, Consumer<Runnable> onCancel) {
        return loop.prefill(tenant, prompt, sampling, onCancel);
    }

    @Override
    public void registerMetrics(PrometheusRegistry registry, String modelName) {
        loop.registerMetrics(registry, modelName);
        MetricFamilies.gauge(registry, "kvasir_device_kv_cached_blocks", "Blocks cached in the GPU's KV tier",
                Labels.of("model_name", modelName), tier::cachedBlocks);
    }

    @Override
    public void close() {
        loop.close();
        gpu.close();
        tier.close();
    }
}
