package io.kvasir.engine.loop;

import java.util.List;

/**
 * A model's forward pass over sequences whose KV a {@link BlockManager} keeps: on the CPU
 * ({@link CpuForward}) or a GPU. The arrays returned are the pass's own and valid until its next call.
 *
 * @param <K> one sequence's KV
 */
public interface ForwardPass<K> {
    /** Vocabulary size: the width of one row of logits. */
    int vocabSize();

    /** Computes {@code prompt[from, prompt.length)} after the {@code from} tokens {@code kv} holds; the logits of the last one. */
    float[] prefill(K kv, int[] prompt, int from);

    /** Appends {@code tokens[i]} to {@code kvs.get(i)}, all in one pass; row i of the result is sequence i's logits. */
    float[] step(List<K> kvs, int[] tokens);
}
