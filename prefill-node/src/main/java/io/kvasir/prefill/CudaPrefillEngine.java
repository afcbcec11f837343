package io.kvasir.prefill;

import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

import io.kvasir.engine.RequestCheck;
import io.kvasir.cuda.CudaDevice;
import io.kvasir.cuda.CudaKernels;
import io.kvasir.cuda.CudaLlamaModel;
import io.kvasir.cuda.DeviceKvTier;
import io.kvasir.engine.Model;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.kv.metrics.PrometheusText;
import io.kvasir.node.DevicePrefix;
import io.kvasir.node.StorePrefixCache;

/**
 * A prefill node on a GPU ({@code kvasir prefill --device cuda}). The prompt's cached prefix comes
 * from the device KV tier when it holds it (a block reference, no copy), else from the KV store
 * (through a host staging pool into the device tier); the rest is computed on the GPU; the new full
 * blocks go to the store (device → host → Arrow) before the answer, and stay cached on the device
 * under their keys for the next prompt with the same prefix. Blocks evicted from the device are
 * already in the store, so eviction only forgets them there.
 */
public final class CudaPrefillEngine implements Prefiller, AutoCloseable {
    private final Model model;
    private final StorePrefixCache cache;
    private final int blockSize;
    private final DeviceKvTier tier;
    private final CudaLlamaModel gpu;
    private final DevicePrefix prefix;
    private final ReentrantLock lock = new ReentrantLock(true);
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();

    /** {@code deviceBlocks}: the device KV tier's size; prompts up to {@code maxPrompt} tokens. */
    public CudaPrefillEngine(CudaDevice device, Model model, StorePrefixCache cache, int blockSize, int deviceBlocks,
            int maxPrompt) {
        this.model = model;
        this.cache = cache;
        this.blockSize = blockSize;
        var c = model.transformer().config();
        int maxBlocks = (maxPrompt + blockSize - 1) / blockSize;
        this.tier = new DeviceKvTier(new CudaKernels.KvGeometry(c.numLayers(), c.numKvHeads(), c.headDim(), blockSize,
                maxBlocks), deviceBlocks, evicted -> { }); // evicted blocks are in the store already
        this.gpu = new CudaLlamaModel(device, model.transformer(), tier, maxPrompt, 512, blockSize);
        this.prefix = new DevicePrefix(tier, cache, model.transformer().newKvPool(blockSize, maxBlocks), blockSize,
                c.numLayers() * blockSize * c.kvDim());
    }

    @Override
    public Result prefill(String tenant, int[] prompt, SamplingParams sampling) {
        int vocab = model.transformer().config().vocabSize();
        RequestCheck.prompt(prompt, vocab, model.transformer().config().contextLength());
        lock.lock();
        try {
            DevicePrefix.Loaded cached = prefix.load(tenant, prompt, prompt.length - 1);
            gpu.startFrom(cached.blocks(), cached.tokens());
            float[] logits = gpu.forward(java.util.Arrays.copyOfRange(prompt, cached.tokens(), prompt.length));
            int first = new Sampler(sampling, vocab).sample(logits);
            int full = prompt.length / blockSize;
            int from = cached.tokens() / blockSize;
            prefix.storeAndFinish(tenant, prompt, gpu.sequence(), from, full);
            cache.flush();
            promptTokens.add(prompt.length);
            cachedTokens.add(cached.tokens());
            return new Result(first, cached.tokens(), full - from, cached.fromSsd());
        } finally {
            gpu.reset();
            lock.unlock();
        }
    }

    @Override
    public String metricsText(String modelName) {
        String m = PrometheusText.labels("model_name", modelName);
        return new PrometheusText()
                .counter("vllm:prompt_tokens_total", "Prompt tokens", m, promptTokens.sum())
                .counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV cache", m, promptTokens.sum())
                .counter("vllm:prefix_cache_hits_total", "Prompt tokens found in the device tier or the store", m,
                        cachedTokens.sum())
                .gauge("kvasir_device_kv_cached_blocks", "Blocks cached in the GPU's KV tier", m, tier.cachedBlocks())
                .toString();
    }

    @Override
    public void close() {
        gpu.close();
        tier.close();
    }
}
