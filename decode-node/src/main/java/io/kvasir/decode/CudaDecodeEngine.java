package io.kvasir.decode;

import java.util.List;

import io.kvasir.cuda.CudaDevice;
import io.kvasir.cuda.CudaForward;
import io.kvasir.cuda.CudaKernels;
import io.kvasir.cuda.CudaLlamaModel;
import io.kvasir.cuda.DeviceKvTier;
import io.kvasir.engine.Model;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.node.DeviceBlockManager;
import io.kvasir.node.DevicePrefix;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.telemetry.MetricFamilies;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/**
 * A decode node on a GPU ({@code kvasir decode --device cuda}): the engine loop with the forward
 * pass, the KV and the local tier (the device KV tier: finished sequences' blocks cached by key) on
 * the device. Sampling is on the host, from each step's logits.
 */
public final class CudaDecodeEngine implements Decoder {
    private final DeviceKvTier tier;
    private final CudaLlamaModel gpu;
    private final DecodeMetrics metrics;
    private final EngineLoop<DeviceBlockManager.Kv> loop;

    /** {@code deviceBlocks}: the device KV pool (running sequences + its cache); sequences up to the model's context. */
    public CudaDecodeEngine(CudaDevice device, Model model, StorePrefixCache cache, int blockSize, int deviceBlocks,
            int maxBatch) {
        var c = model.transformer().config();
        int maxSequenceBlocks = (c.contextLength() + blockSize - 1) / blockSize;
        this.tier = new DeviceKvTier(new CudaKernels.KvGeometry(c.numLayers(), c.numKvHeads(), c.headDim(), blockSize,
                maxSequenceBlocks), deviceBlocks, evicted -> { }); // cached blocks are in the store already
        this.gpu = new CudaLlamaModel(device, model.transformer(), tier, c.contextLength(), Math.max(maxBatch, 256),
                blockSize);
        DevicePrefix prefix = new DevicePrefix(tier, cache, model.transformer().newKvPool(blockSize, maxSequenceBlocks),
                blockSize, c.numLayers() * blockSize * c.kvDim());
        DeviceBlockManager blocks = new DeviceBlockManager(gpu, prefix, blockSize, deviceBlocks);
        this.metrics = new DecodeMetrics(maxBatch);
        this.loop = new EngineLoop<>(blocks, new CudaForward<>(gpu, DeviceBlockManager.Kv::sequence, c.vocabSize()),
                model.tokenizer(), c.contextLength(), maxBatch, metrics).start("cuda-decode-loop");
    }

    @Override
    public EngineLoop<DeviceBlockManager.Kv> loop() {
        return loop;
    }

    /** Not announced yet: the device tier's blocks are in the store too, so routers still find the prefix. */
    @Override
    public List<NodeHeartbeat.Resident> resident() {
        return List.of();
    }

    @Override
    public void registerMetrics(PrometheusRegistry registry, String modelName) {
        metrics.register(registry, modelName, loop);
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
