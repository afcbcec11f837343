package io.kvasir.decode;

import java.util.Arrays;

import io.kvasir.engine.RequestCheck;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.engine.tokenizer.Tokenizer;

/**
 * What both decode engines keep of a sequence, whatever holds its KV: the request, its sampler,
 * the tokens generated so far and how it ended. {@link #accept} records a token, tells the
 * listener and decides whether the sequence is done.
 */
abstract class SequenceState implements DecodeEngine.Handle {
    final DecodeEngine.Request request;
    final DecodeEngine.Listener listener;
    final Sampler sampler;
    final int blocksNeeded;
    /** Blocks reserved for it at admission: {@link #blocksNeeded} less the cached ones it shares. */
    int reservedBlocks;
    final long submittedNanos = System.nanoTime();
    double queueSeconds;
    int[] generatedTokens = new int[16];
    int generated;
    int last;
    int cachedTokens;
    /** Of {@link #cachedTokens}: from this node's own pool, and from the store's SSD tier (the rest: its host tier). */
    int cachedLocal;
    int cachedSsd;
    int storedFrom; // blocks below came from a cache: no need to store them again
    String finish;
    boolean failed;
    volatile boolean cancelled;
    private final Tokenizer tokenizer;

    SequenceState(DecodeEngine.Request request, DecodeEngine.Listener listener, int vocab, int blockSize,
            Tokenizer tokenizer) {
        this.request = request;
        this.listener = listener;
        this.tokenizer = tokenizer;
        this.sampler = new Sampler(request.sampling(), vocab);
        this.blocksNeeded = (request.prompt().length + request.maxTokens() + blockSize - 1) / blockSize;
    }

    /** Checks a request against the model and the node; the messages name what was wrong. */
    static void validate(DecodeEngine.Request request, int vocab, int context) {
        RequestCheck.prompt(request.prompt(), vocab, context);
        if (request.firstToken() >= vocab) {
            throw new RequestCheck.Invalid("first_token", request.firstToken() + " is outside the vocabulary [0, "
                    + vocab + ")");
        }
        RequestCheck.generation(request.prompt().length, request.maxTokens(), context);
    }

    void accept(int token) {
        if (generated == generatedTokens.length) {
            generatedTokens = Arrays.copyOf(generatedTokens, generated * 2);
        }
        generatedTokens[generated++] = token;
        last = token;
        listener.onToken(token);
        if (!request.ignoreEos() && tokenizer.isEndOfGeneration(token)) {
            finish = "stop";
        } else if (generated >= request.maxTokens()) {
            finish = "length";
        }
    }

    void fail(RuntimeException e) {
        failed = true;
        finish = "error";
        listener.onError(e);
    }

    /** Prompt then generated tokens: the ones whose KV is stored come first. */
    int[] tokens() {
        int[] prompt = request.prompt();
        int[] all = Arrays.copyOf(prompt, prompt.length + generated);
        System.arraycopy(generatedTokens, 0, all, prompt.length, generated);
        return all;
    }

    /** The end as the listener hears it. */
    DecodeEngine.Finish finished() {
        return new DecodeEngine.Finish(finish, request.prompt().length, cachedTokens, generated, queueSeconds,
                cachedLocal, cachedSsd);
    }

    @Override
    public void cancel() {
        cancelled = true;
    }
}
