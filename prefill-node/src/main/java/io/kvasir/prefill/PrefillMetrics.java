package io.kvasir.prefill;

import java.util.concurrent.atomic.LongAdder;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.kv.metrics.LatencyHistogram;
import io.kvasir.kv.metrics.PrometheusText;

/** A prefill node's metrics, under vLLM's names where it has them, as its engine loop reports them. */
final class PrefillMetrics implements EngineLoop.Observer {
    private final LatencyHistogram queueTime = new LatencyHistogram("vllm:request_queue_time_seconds",
            "Time a prompt waited for the node");
    private final LatencyHistogram prefillTime = new LatencyHistogram("vllm:request_prefill_time_seconds",
            "Time to load, compute and store a prompt");
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder storedBlocks = new LongAdder();
    private final int blockSize;

    PrefillMetrics(int blockSize) {
        this.blockSize = blockSize;
    }

    @Override
    public void admitted(double queueSeconds) {
        queueTime.observe(queueSeconds);
    }

    @Override
    public void finished(EngineLoop.Finish finish, double runSeconds) {
        prefillTime.observe(runSeconds);
        promptTokens.add(finish.promptTokens());
        cachedTokens.add(finish.cachedPromptTokens());
        storedBlocks.add(storedBlocks(finish, blockSize));
    }

    /** Full blocks a prefill computed and stored: the prompt's, less those it found cached. */
    static int storedBlocks(EngineLoop.Finish finish, int blockSize) {
        return finish.promptTokens() / blockSize - finish.cachedPromptTokens() / blockSize;
    }

    /** The node's metrics; the caller may add its own. */
    PrometheusText render(EngineLoop<?> loop, String m) {
        long total = loop.blocks().totalBlocks();
        return new PrometheusText()
                .gauge("vllm:num_requests_running", "Prompts being prefilled", m, loop.running())
                .gauge("vllm:num_requests_waiting", "Prompts waiting for the node", m, loop.waiting())
                .gauge("vllm:kv_cache_usage_perc", "Fraction of KV blocks in use", m,
                        1.0 - (double) loop.blocks().freeBlocks() / total)
                .counter("vllm:prompt_tokens_total", "Prompt tokens", m, promptTokens.sum())
                .counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV store", m, promptTokens.sum())
                .counter("vllm:prefix_cache_hits_total", "Prompt tokens found in the KV store", m, cachedTokens.sum())
                .histogram(queueTime, m)
                .histogram(prefillTime, m)
                .counter("kvasir_prefill_stored_blocks_total", "Full blocks computed and put into the KV store", m,
                        storedBlocks.sum());
    }
}
