package io.kvasir.decode;

import java.util.List;

import io.kvasir.engine.Model;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.loop.CpuForward;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.node.HostBlockManager;
import io.kvasir.node.PrefixCache;
import io.kvasir.telemetry.MetricFamilies;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/**
 * A decode node on the CPU: the engine loop over a host pool, with the node's local tier in front of
 * {@code cache} (for models without a sliding window, whose blocks depend only on their prefix).
 */
public final class DecodeEngine implements Decoder {
    private final HostBlockManager blocks;
    private final DecodeMetrics metrics;
    private final EngineLoop<HostBlockManager.Kv> loop;

    /** {@code maxBlocks}: the KV pool; {@code maxBatch}: sequences per step; {@code prefillChunk}: tokens per prefill pass. */
    public DecodeEngine(Model model, PrefixCache cache, int blockSize, int maxBlocks, int maxBatch, int prefillChunk) {
        LlamaModel transformer = model.transformer();
        boolean everyBlockReusable = transformer.config().widestWindow() == Integer.MAX_VALUE;
        this.blocks = new HostBlockManager(transformer.newKvPool(blockSize, maxBlocks, cache.type()), cache,
                everyBlockReusable ? HostBlockManager.LocalTier.KEEP : HostBlockManager.LocalTier.NONE);
        this.metrics = new DecodeMetrics(maxBatch);
        this.loop = new EngineLoop<>(blocks, new CpuForward<>(transformer, HostBlockManager.Kv::table, prefillChunk, maxBatch),
                model.tokenizer(), transformer.config().contextLength(), maxBatch, metrics)
                .start("decode-loop");
    }

    public KvBlockPool pool() {
        return blocks.pool();
    }

    /** Steps run so far, by how many sequences they carried (index = batch size). */
    public long[] stepsByBatchSize() {
        return metrics.stepsByBatchSize();
    }

    @Override
    public EngineLoop<HostBlockManager.Kv> loop() {
        return loop;
    }

    @Override
    public List<NodeHeartbeat.Resident> resident() {
        return blocks.resident();
    }

    /** Prompt tokens served from the local tier so far. */
    public long localHitTokens() {
        return blocks.localHitTokens();
    }

    /** Blocks the local tier holds now. */
    public int localBlocks() {
        return blocks.localBlocks();
    }

    @Override
    public void registerMetrics(PrometheusRegistry registry, String modelName) {
        metrics.register(registry, modelName, loop);
        Labels m = Labels.of("model_name", modelName);
        MetricFamilies.gauge(registry, "kvasir_node_kv_blocks", "KV blocks in this node's pool", m, blocks::totalBlocks);
        MetricFamilies.gauge(registry, "kvasir_node_local_tier_blocks", "Finished sequences' blocks kept in the local tier",
                m, blocks::localBlocks);
        MetricFamilies.counter(registry, "kvasir_node_local_tier_hit_tokens", "Prompt tokens copied from the local tier",
                m, blocks::localHitTokens);
    }

    @Override
    public void close() {
        loop.close();
    }
}
