package io.kvasir.prefill;

import java.util.concurrent.locks.ReentrantLock;

import io.kvasir.engine.Model;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.StorePrefixCache;

/**
 * A prefill node's work: for one prompt, load what the store has, compute the rest in chunks, put
 * every full block into the store (before answering, so the decode node finds them), choose the
 * first token and free everything. One prompt at a time: prefill is compute-bound and its chunks
 * already fill the matmuls; interleaving requests would only add latency to each.
 */
public final class PrefillEngine {
    /** @param storedBlocks full blocks this call computed and stored */
    public record Result(int firstToken, int cachedTokens, int storedBlocks) {
    }

    private final LlamaModel transformer;
    private final StorePrefixCache cache;
    private final KvBlockPool pool;
    private final ForwardBuffers buffers;
    private final int blockSize;
    private final ReentrantLock lock = new ReentrantLock(true);
    private long prefills;

    public PrefillEngine(Model model, StorePrefixCache cache, int blockSize, int maxBlocks, int chunk) {
        this.transformer = model.transformer();
        this.cache = cache;
        this.blockSize = blockSize;
        this.pool = transformer.newKvPool(blockSize, maxBlocks);
        this.buffers = transformer.newBuffers(chunk);
    }

    /** @throws IllegalArgumentException an empty prompt, a token outside the vocabulary, a prompt beyond the context or this node's KV */
    public Result prefill(String tenant, int[] prompt, SamplingParams sampling) {
        int vocab = transformer.config().vocabSize();
        if (prompt.length == 0) {
            throw new IllegalArgumentException("prompt is empty");
        }
        if (prompt.length > transformer.config().contextLength()) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens exceeds the context length "
                    + transformer.config().contextLength());
        }
        if ((prompt.length + blockSize - 1) / blockSize > pool.maxBlocks()) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens needs more KV blocks than this node's "
                    + pool.maxBlocks());
        }
        lock.lock();
        BlockTable table = new BlockTable(pool);
        try {
            int cached = cache.load(tenant, prompt, prompt.length - 1, table);
            transformer.forward(prompt, cached, prompt.length, table, buffers);
            int first = new Sampler(sampling, vocab).sample(buffers.logits, 0);
            int full = table.numTokens() / blockSize;
            cache.store(tenant, prompt, table, cached / blockSize, full);
            cache.flush();
            prefills++;
            return new Result(first, cached, full - cached / blockSize);
        } finally {
            table.release();
            lock.unlock();
        }
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
