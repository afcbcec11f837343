package io.kvasir.prefill;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

import io.kvasir.engine.RequestCheck;
import io.kvasir.engine.Model;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.kv.metrics.LatencyHistogram;
import io.kvasir.kv.metrics.PrometheusText;
import io.kvasir.node.PrefixCache;
import io.kvasir.node.StorePrefixCache;

/**
 * A prefill node's work: for one prompt, load what the store has, compute the rest in chunks, put
 * every full block into the store (before answering, so the decode node finds them), choose the
 * first token and free everything. One prompt at a time: prefill is compute-bound and its chunks
 * already fill the matmuls; interleaving requests would only add latency to each.
 */
public final class PrefillEngine implements Prefiller {
    private final LlamaModel transformer;
    private final StorePrefixCache cache;
    private final KvBlockPool pool;
    private final ForwardBuffers buffers;
    private final int blockSize;
    private final ReentrantLock lock = new ReentrantLock(true);
    private long prefills;
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder storedBlocks = new LongAdder();
    private final AtomicInteger arrived = new AtomicInteger();
    private volatile boolean busy;
    private final LatencyHistogram queueTime = new LatencyHistogram("vllm:request_queue_time_seconds",
            "Time a prompt waited for the node");
    private final LatencyHistogram prefillTime = new LatencyHistogram("vllm:request_prefill_time_seconds",
            "Time to load, compute and store a prompt");

    public PrefillEngine(Model model, StorePrefixCache cache, int blockSize, int maxBlocks, int chunk) {
        this.transformer = model.transformer();
        this.cache = cache;
        this.blockSize = blockSize;
        this.pool = transformer.newKvPool(blockSize, maxBlocks);
        this.buffers = transformer.newBuffers(chunk);
    }

    /** @throws IllegalArgumentException an empty prompt, a token outside the vocabulary, a prompt beyond the context or this node's KV */
    @Override
    public Result prefill(String tenant, int[] prompt, SamplingParams sampling) {
        int vocab = transformer.config().vocabSize();
        RequestCheck.prompt(prompt, vocab, transformer.config().contextLength());
        if ((prompt.length + blockSize - 1) / blockSize > pool.maxBlocks()) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens needs more KV blocks than this node's "
                    + pool.maxBlocks());
        }
        long arrival = System.nanoTime();
        arrived.incrementAndGet();
        lock.lock();
        busy = true;
        long start = System.nanoTime();
        queueTime.observe((start - arrival) / 1e9);
        BlockTable table = new BlockTable(pool);
        try {
            PrefixCache.Loaded found = cache.load(tenant, prompt, prompt.length - 1, table);
            int cached = found.tokens();
            transformer.forward(prompt, cached, prompt.length, table, buffers);
            int first = new Sampler(sampling, vocab).sample(buffers.logits, 0);
            int full = table.numTokens() / blockSize;
            cache.store(tenant, prompt, table, cached / blockSize, full);
            cache.flush();
            prefills++;
            promptTokens.add(prompt.length);
            cachedTokens.add(cached);
            storedBlocks.add(full - cached / blockSize);
            return new Result(first, cached, full - cached / blockSize, found.fromSsd());
        } finally {
            table.release();
            prefillTime.observe((System.nanoTime() - start) / 1e9);
            arrived.decrementAndGet();
            busy = false;
            lock.unlock();
        }
    }

    /** This node's metrics in Prometheus' text format, under vLLM's names where it has them. */
    @Override
    public String metricsText(String modelName) {
        String m = PrometheusText.labels("model_name", modelName);
        int inFlight = arrived.get();
        int running = busy ? 1 : 0;
        return new PrometheusText()
                .gauge("vllm:num_requests_running", "Prompts being prefilled", m, running)
                .gauge("vllm:num_requests_waiting", "Prompts waiting for the node", m, Math.max(0, inFlight - running))
                .gauge("vllm:kv_cache_usage_perc", "Fraction of KV blocks in use", m,
                        1.0 - (double) pool.numAvailable() / pool.maxBlocks())
                .counter("vllm:prompt_tokens_total", "Prompt tokens", m, promptTokens.sum())
                .counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV store", m, promptTokens.sum())
                .counter("vllm:prefix_cache_hits_total", "Prompt tokens found in the KV store", m, cachedTokens.sum())
                .histogram(queueTime, m)
                .histogram(prefillTime, m)
                .counter("kvasir_prefill_stored_blocks_total", "Full blocks computed and put into the KV store", m,
                        storedBlocks.sum())
                .toString();
    }

    /** Prompts prefilled so far. */
    public long prefills() {
        lock.lock();
        try {
            return prefills;
        } finally {
            lock.unlock();
        }
    }
}
