package io.kvasir.decode;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.kv.metrics.LatencyHistogram;
import io.kvasir.kv.metrics.PrometheusText;

/** A decode node's metrics, under vLLM's names, as its engine loop reports them; CPU and GPU alike. */
final class DecodeMetrics implements EngineLoop.Observer {
    private final LatencyHistogram queueTime = new LatencyHistogram("vllm:request_queue_time_seconds",
            "Time a request waited on this node before it was admitted to the batch");
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder generationTokens = new LongAdder();
    private final AtomicLongArray stepsByBatchSize;

    DecodeMetrics(int maxBatch) {
        stepsByBatchSize = new AtomicLongArray(maxBatch + 1);
    }

    @Override
    public void admitted(double queueSeconds) {
        queueTime.observe(queueSeconds);
    }

    @Override
    public void prefilled(int prompt, int cached) {
        promptTokens.add(prompt);
        cachedTokens.add(cached);
    }

    @Override
    public void stepped(int batchSize) {
        stepsByBatchSize.incrementAndGet(batchSize);
    }

    @Override
    public void finished(EngineLoop.Finish finish, double runSeconds) {
        generationTokens.add(finish.completionTokens());
    }

    /** Steps run so far, by how many sequences they carried (index = batch size). */
    long[] stepsByBatchSize() {
        long[] steps = new long[stepsByBatchSize.length()];
        for (int i = 0; i < steps.length; i++) {
            steps[i] = stepsByBatchSize.get(i);
        }
        return steps;
    }

    /** The engine's view: running, waiting, KV usage, tokens, prefix hits, queue time; the caller may add its own. */
    PrometheusText render(EngineLoop<?> loop, String labels) {
        long total = loop.blocks().totalBlocks();
        double usage = total == 0 ? 0 : 1.0 - (double) loop.blocks().freeBlocks() / total;
        return new PrometheusText()
                .gauge("vllm:num_requests_running", "Sequences in the running batch", labels, loop.running())
                .gauge("vllm:num_requests_waiting", "Sequences waiting for room", labels, loop.waiting())
                .gauge("vllm:kv_cache_usage_perc", "Fraction of KV blocks reserved by sequences (1 = full)", labels, usage)
                .counter("vllm:prompt_tokens_total", "Prompt tokens", labels, promptTokens.sum())
                .counter("vllm:generation_tokens_total", "Generated tokens", labels, generationTokens.sum())
                .counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV cache", labels,
                        promptTokens.sum())
                .counter("vllm:prefix_cache_hits_total", "Prompt tokens whose KV came from a cache", labels,
                        cachedTokens.sum())
                .histogram(queueTime, labels);
    }
}
