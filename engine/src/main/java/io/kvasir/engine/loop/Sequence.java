package io.kvasir.engine.loop;

import java.util.Arrays;
import java.util.function.IntPredicate;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.engine.sampling.Grammar;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.engine.sampling.TokenLogprobs;

/**
 * A sequence in the loop: its request, its KV, its sampler, the tokens generated so far and how
 * it ended. {@link #accept} records a token, tells the listener and decides whether it is done.
 */
final class Sequence<K> implements EngineLoop.Handle {
    private static final Logger LOG = Logger.getLogger(Sequence.class.getName());

    final EngineLoop.Request request;
    final EngineLoop.Listener listener;
    final K kv;
    final Sampler sampler;
    /** Its worst case: prompt + max tokens, in blocks. */
    final int blocksNeeded;
    final long submittedNanos = System.nanoTime();
    long admittedNanos;
    double queueSeconds;
    private int[] generatedTokens = new int[16];
    int generated;
    int last;
    int cachedTokens;
    /** Of {@link #cachedTokens}: from this node's own pool, and from the store's SSD tier (the rest: its host tier). */
    int cachedLocal;
    int cachedSsd;
    String finish;
    boolean failed;
    volatile boolean cancelled;
    private final IntPredicate endOfGeneration;

    Sequence(EngineLoop.Request request, EngineLoop.Listener listener, K kv, int vocab, int blocksNeeded,
            IntPredicate endOfGeneration, Grammar grammar) {
        this.request = request;
        this.listener = listener;
        this.kv = kv;
        this.sampler = new Sampler(request.sampling(), vocab, grammar);
        sampler.prompt(request.prompt());
        this.blocksNeeded = blocksNeeded;
        this.endOfGeneration = endOfGeneration;
    }

    /**
     * Counts the prompt tokens it did not compute. A request a prefill node ran reports that node's
     * hits, unless this node's own pool held more of the prompt.
     */
    void countCached(BlockManager.Prefix found) {
        boolean prefilled = request.firstToken() >= 0;
        if (prefilled && request.cachedBefore() > found.local()) {
            cachedTokens = request.cachedBefore();
            cachedSsd = request.ssdBefore();
        } else {
            cachedTokens = prefilled ? found.local() : found.tokens();
            cachedLocal = found.local();
            cachedSsd = prefilled ? 0 : found.ssd();
        }
    }

    /** {@code logprobs}: the token's log-probabilities, when the request asked for them (else null). */
    void accept(int token, TokenLogprobs logprobs) {
        if (generated == generatedTokens.length) {
            generatedTokens = Arrays.copyOf(generatedTokens, generated * 2);
        }
        generatedTokens[generated++] = token;
        last = token;
        sampler.accepted(token);
        try {
            listener.onToken(token, logprobs);
        } catch (RuntimeException e) {
            // whoever listens cannot take more (its client is gone): this sequence ends, no other
            LOG.log(Level.WARNING, "a sequence's listener failed; cancelling the sequence", e);
            cancelled = true;
        }
        if (!request.ignoreEos() && endOfGeneration.test(token)) {
            finish = "stop";
        } else if (generated >= request.maxTokens()) {
            finish = "length";
        }
    }

    void fail(RuntimeException e) {
        failed = true;
        finish = "error";
        try {
            listener.onError(e);
        } catch (RuntimeException again) {
            LOG.log(Level.WARNING, "a sequence's listener failed on its error", again);
        }
    }

    /** The listener's view of a part of the work; none if it fails to give one (tracing never stops a sequence). */
    EngineLoop.Phase phase(String name) {
        try {
            return listener.phase(name);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "a sequence's listener failed to open its " + name + " phase", e);
            return EngineLoop.Phase.NONE;
        }
    }

    /** Tells the listener the sequence was admitted; a listener that fails here harms nothing else. */
    void admitted(long queuedNanos) {
        try {
            listener.onAdmitted(queuedNanos);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "a sequence's listener failed on its admission", e);
        }
    }

    /** Tells the listener how the sequence ended; a listener that fails here harms nothing else. */
    void notifyFinished(EngineLoop.Finish f) {
        try {
            listener.onFinish(f);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "a sequence's listener failed on its end", e);
        }
    }

    /** Prompt then generated tokens: the ones whose KV is kept come first. */
    int[] tokens() {
        int[] prompt = request.prompt();
        int[] all = Arrays.copyOf(prompt, prompt.length + generated);
        System.arraycopy(generatedTokens, 0, all, prompt.length, generated);
        return all;
    }

    /** The end as the listener hears it. */
    EngineLoop.Finish finished() {
        return new EngineLoop.Finish(finish, request.prompt().length, cachedTokens, generated, queueSeconds,
                cachedLocal, cachedSsd);
    }

    @Override
    public void cancel() {
        cancelled = true;
    }
}
