package io.kvasir.prefill;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

import io.kvasir.engine.Model;
import io.kvasir.engine.loop.BlockManager;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.engine.loop.ForwardPass;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.node.TracedListener;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * A prefill node's use of the engine loop: a prompt is a request for one token whose full blocks go
 * to the store before the caller hears the token. One prompt at a time: prefill is compute-bound
 * and its chunks already fill the matmuls; interleaving prompts would only add latency to each.
 */
final class PrefillLoop<K> implements AutoCloseable {
    private final EngineLoop<K> loop;
    private final StorePrefixCache cache;
    private final PrefillMetrics metrics;
    private final int blockSize;

    PrefillLoop(BlockManager<K> blocks, ForwardPass<K> forward, Model model, StorePrefixCache cache, String threadName) {
        this.cache = cache;
        this.blockSize = blocks.blockSize();
        this.metrics = new PrefillMetrics(blockSize);
        this.loop = new EngineLoop<>(blocks, forward, model.tokenizer(),
                model.transformer().config().contextLength(), 1, metrics).start(threadName);
    }

    Prefiller.Result prefill(String tenant, int[] prompt, SamplingParams sampling, Consumer<Runnable> onCancel) {
        if ((prompt.length + blockSize) / blockSize > loop.blocks().totalBlocks()) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens needs more KV blocks than this node's "
                    + loop.blocks().totalBlocks());
        }
        CompletableFuture<EngineLoop.Finish> done = new CompletableFuture<>();
        int[] first = {-1};
        EngineLoop.Handle handle = loop.submit(new EngineLoop.Request(tenant, prompt, 1, sampling, -1, 0, true),
                new TracedListener() {
                    @Override
                    public void onToken(int token) {
                        first[0] = token;
                    }

                    @Override
                    public void onFinish(EngineLoop.Finish finish) {
                        // on the loop's thread, so the next prompt starts only once these blocks are in the store
                        try (EngineLoop.Phase stored = phase("await store")) {
                            cache.flush();
                        }
                        done.complete(finish);
                    }

                    @Override
                    public void onError(RuntimeException e) {
                        done.completeExceptionally(e);
                    }
                });
        onCancel.accept(handle::cancel);
        EngineLoop.Finish finish;
        try {
            finish = done.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
        if (finish.reason().equals("cancelled")) {
            throw new CancellationException("the prompt's caller went away");
        }
        return new Prefiller.Result(first[0], finish.cachedPromptTokens(), PrefillMetrics.storedBlocks(finish, blockSize),
                finish.cachedSsdTokens());
    }

    /** Adds the node's metrics, labelled with {@code modelName}, to {@code registry}. */
    void registerMetrics(PrometheusRegistry registry, String modelName) {
        metrics.register(registry, modelName, loop);
    }

    @Override
    public void close() {
        loop.close();
    }
}
