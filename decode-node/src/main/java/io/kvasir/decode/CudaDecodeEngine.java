package io.kvasir.decode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.cuda.CudaDevice;
import io.kvasir.cuda.CudaKernels;
import io.kvasir.cuda.CudaLlamaModel;
import io.kvasir.cuda.DeviceKvTier;
import io.kvasir.engine.Model;
import io.kvasir.kv.metrics.LatencyHistogram;
import io.kvasir.kv.metrics.PrometheusText;
import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.node.DevicePrefix;
import io.kvasir.node.StorePrefixCache;

/**
 * A decode node on a GPU ({@code kvasir decode --device cuda}): the same contract as
 * {@link DecodeEngine} (continuous batching, KV reserved at admission, weighted fair queue, a
 * prefilled request continues from the prefill node's first token, every full block written back)
 * with the forward pass, the KV and the local tier (the device KV tier: finished sequences' blocks
 * cached by key) on the device. Each step is one pass over every running sequence; sampling is on
 * the host, from that step's logits.
 */
public final class CudaDecodeEngine extends BatchingEngine<CudaDecodeEngine.Seq> {
    private static final Logger LOG = Logger.getLogger(CudaDecodeEngine.class.getName());

    private final Model model;
    private final StorePrefixCache cache;
    private final int blockSize;
    private final int vocab;
    private final DeviceKvTier tier;
    private final CudaLlamaModel gpu;
    private final DevicePrefix prefix;
    private final LatencyHistogram queueTime = new LatencyHistogram("vllm:request_queue_time_seconds",
            "Time a request waited on this node before it was admitted to the batch");
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder generationTokens = new LongAdder();

    /** {@code deviceBlocks}: the device KV pool (running sequences + its cache); sequences up to the model's context. */
    public CudaDecodeEngine(CudaDevice device, Model model, StorePrefixCache cache, int blockSize, int deviceBlocks,
            int maxBatch) {
        super(deviceBlocks, maxBatch, model.transformer().config().vocabSize(), model.transformer().config().contextLength());
        this.model = model;
        this.cache = cache;
        this.blockSize = blockSize;
        var c = model.transformer().config();
        this.vocab = c.vocabSize();
        int maxSequenceBlocks = (c.contextLength() + blockSize - 1) / blockSize;
        this.tier = new DeviceKvTier(new CudaKernels.KvGeometry(c.numLayers(), c.numKvHeads(), c.headDim(), blockSize,
                maxSequenceBlocks), deviceBlocks, evicted -> { }); // cached blocks are in the store already
        this.gpu = new CudaLlamaModel(device, model.transformer(), tier, c.contextLength(), Math.max(maxBatch, 256),
                blockSize);
        this.prefix = new DevicePrefix(tier, cache, model.transformer().newKvPool(blockSize, maxSequenceBlocks), blockSize,
                c.numLayers() * blockSize * c.kvDim());
        startLoop("cuda-decode-loop");
    }

    @Override
    Seq newSequence(DecodeEngine.Request request, DecodeEngine.Listener listener) {
        return new Seq(request, listener);
    }

    @Override
    void admitted(Seq s) {
        queueTime.observe(s.queueSeconds);
    }

    /** The cached prefix (device tier, else store), the rest of the prompt on the GPU, the first token. */
    @Override
    void prefill(Seq s) {
        int[] prompt = s.request.prompt();
        boolean prefilled = s.request.firstToken() >= 0;
        DevicePrefix.Loaded cached = prefix.load(s.request.cacheOwner(), prompt, prefilled ? prompt.length : prompt.length - 1);
        s.dev.startFrom(cached.blocks(), cached.tokens());
        s.storedFrom = cached.tokens() / blockSize;
        s.cachedTokens = prefilled ? s.request.cachedBefore() : cached.tokens();
        s.cachedLocal = prefilled || !cached.onDevice() ? 0 : cached.tokens();
        s.cachedSsd = prefilled ? s.request.ssdBefore() : cached.fromSsd();
        promptTokens.add(prompt.length);
        cachedTokens.add(s.cachedTokens);
        float[] logits = cached.tokens() < prompt.length
                ? gpu.prefill(s.dev, Arrays.copyOfRange(prompt, cached.tokens(), prompt.length)) : null;
        if (prefilled) {
            s.sampler.skip();
            s.accept(s.request.firstToken());
        } else {
            s.accept(s.sampler.sample(logits));
        }
    }

    @Override
    void step(List<Seq> running) {
        List<CudaLlamaModel.Sequence> seqs = new ArrayList<>(running.size());
        int[] tokens = new int[running.size()];
        for (int i = 0; i < running.size(); i++) {
            seqs.add(running.get(i).dev);
            tokens[i] = running.get(i).last;
        }
        float[] logits = gpu.step(seqs, tokens);
        for (int i = 0; i < running.size(); i++) {
            Seq s = running.get(i);
            s.accept(s.sampler.sample(logits, i * vocab));
        }
    }

    /** Its full blocks to the store and the device tier (a failed sequence's are only released). */
    @Override
    void storeBlocks(Seq s) {
        try {
            if (s.failed) {
                s.dev.release();
            } else {
                prefix.storeAndFinish(s.request.cacheOwner(), s.tokens(), s.dev, s.storedFrom,
                        s.dev.length() / blockSize);
            }
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "could not hand blocks to the store", e);
            s.dev.release();
        }
    }

    @Override
    void releaseBlocks(Seq s) {
        // the device sequence let go of its blocks in storeBlocks
    }

    @Override
    void finished(Seq s) {
        generationTokens.add(s.generated);
    }

    /** Not announced yet: the device tier's blocks are in the store too, so routers still find the prefix. */
    @Override
    public List<NodeHeartbeat.Resident> resident() {
        return List.of();
    }

    @Override
    public String metricsText(String modelName) {
        String m = PrometheusText.labels("model_name", modelName);
        return new PrometheusText()
                .gauge("vllm:num_requests_running", "Sequences in the running batch", m, running())
                .gauge("vllm:num_requests_waiting", "Sequences waiting for room", m, waiting())
                .gauge("vllm:kv_cache_usage_perc", "Fraction of the GPU's KV blocks reserved by sequences", m,
                        1.0 - (double) freeBlocks() / totalBlocks())
                .counter("vllm:prompt_tokens_total", "Prompt tokens", m, promptTokens.sum())
                .counter("vllm:generation_tokens_total", "Generated tokens", m, generationTokens.sum())
                .counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV cache", m, promptTokens.sum())
                .counter("vllm:prefix_cache_hits_total", "Prompt tokens whose KV came from a cache", m, cachedTokens.sum())
                .histogram(queueTime, m)
                .gauge("kvasir_device_kv_cached_blocks", "Blocks cached in the GPU's KV tier", m, tier.cachedBlocks())
                .toString();
    }

    @Override
    public void close() {
        super.close();
        gpu.close();
        tier.close();
    }

    /** A sequence in the engine: its KV on the device, the rest in {@link SequenceState}. */
    final class Seq extends SequenceState {
        final CudaLlamaModel.Sequence dev = gpu.newSequence();

        Seq(DecodeEngine.Request request, DecodeEngine.Listener listener) {
            super(request, listener, vocab, blockSize, model.tokenizer());
        }
    }
}
