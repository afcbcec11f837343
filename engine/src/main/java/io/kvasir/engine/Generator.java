package io.kvasir.engine;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.engine.sampling.SamplingParams;
import java.util.Arrays;

/**
 * Generates one sequence at a time: prefill the prompt in chunks, then decode token by token,
 * each step attending over the sequence's cached KV blocks. (Batching many sequences is the
 * decode node's step loop; this is the single-request path the CLI and tests use.)
 */
public final class Generator {
    /** Tokens per KV block: vLLM's default, and small enough that a short prompt fills a block. */
    public static final int DEFAULT_BLOCK_SIZE = 16;
    /** Tokens per prefill chunk: bounds activation memory while keeping matmuls wide. */
    public static final int DEFAULT_CHUNK = 64;

    private final Model model;
    private final KvBlockPool pool;
    private final ForwardBuffers buffers;

    public Generator(Model model, int blockSize, int chunkTokens) {
        this.model = model;
        LlamaModel t = model.transformer();
        int maxBlocks = (t.config().contextLength() + blockSize - 1) / blockSize;
        this.pool = t.newKvPool(blockSize, maxBlocks);
        this.buffers = t.newBuffers(chunkTokens);
    }

    public Generator(Model model) {
        this(model, DEFAULT_BLOCK_SIZE, DEFAULT_CHUNK);
    }

    /** Called with each generated token as soon as it is chosen. */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(int token);
    }

    /**
     * @param prompt      token ids, validated against the vocabulary and the context length
     * @param maxTokens   upper bound on generated tokens; generation also stops at end-of-generation
     * @param keepLogits  copy the raw logits of the last prompt position into the result
     */
    public Result generate(int[] prompt, int maxTokens, SamplingParams sampling, boolean keepLogits, TokenListener listener) {
        LlamaModel t = model.transformer();
        int context = t.config().contextLength();
        RequestCheck.prompt(prompt, t.config().vocabSize(), context);
        if (maxTokens < 0) { // 0: the prompt's logits only
            throw new RequestCheck.Invalid("max_tokens", "must be >= 0, got " + maxTokens);
        }
        BlockTable kv = new BlockTable(pool);
        try {
            t.forward(prompt, 0, prompt.length, kv, buffers);
            float[] promptLogits = keepLogits ? buffers.logits.clone() : null;
            Sampler sampler = new Sampler(sampling, t.config().vocabSize());
            int[] out = new int[maxTokens];
            int n = 0;
            String finish = "length";
            int[] one = new int[1];
            while (n < maxTokens) {
                int token = sampler.sample(buffers.logits);
                out[n++] = token;
                listener.onToken(token);
                if (model.tokenizer().isEndOfGeneration(token)) {
                    finish = "stop";
                    break;
                }
                if (n == maxTokens) {
                    break;
                }
                if (kv.numTokens() == context) {
                    break; // context full: the model cannot see another token
                }
                one[0] = token;
                t.forward(one, 0, 1, kv, buffers);
            }
            return new Result(prompt, Arrays.copyOf(out, n), promptLogits, finish);
        } finally {
            kv.release();
        }
    }

    /**
     * @param finishReason {@code stop} (end-of-generation token) or {@code length}
     */
    public record Result(int[] promptTokens, int[] tokens, float[] lastPromptLogits, String finishReason) {
    }
}
