package io.kvasir.engine;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.loop.CpuForward;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.engine.loop.ForwardPass;
import io.kvasir.engine.loop.PoolBlockManager;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.SamplingParams;

/**
 * One sequence at a time on the caller's thread: the engine loop, stepped until the sequence ends,
 * over a pool as long as the model's context and no cache. The path of {@code kvasir generate} and
 * the exactness tests; nodes run the same loop on a thread of their own.
 */
public final class Generator {
    /** Tokens per KV block: vLLM's default, and small enough that a short prompt fills a block. */
    public static final int DEFAULT_BLOCK_SIZE = 16;
    /** Tokens per prefill chunk: bounds activation memory while keeping matmuls wide. */
    public static final int DEFAULT_CHUNK = 64;

    private final Model model;
    private final PromptLogits forward;
    private final EngineLoop<BlockTable> loop;

    /** Keeps K/V in f32, the engine's own precision. */
    public Generator(Model model, int blockSize, int chunkTokens) {
        this(model, blockSize, chunkTokens, KvCacheType.F32);
    }

    /** Keeps K/V in {@code type}: the tokens a cluster serving at that type gives. */
    public Generator(Model model, KvCacheType type) {
        this(model, DEFAULT_BLOCK_SIZE, DEFAULT_CHUNK, type);
    }

    public Generator(Model model, int blockSize, int chunkTokens, KvCacheType type) {
        this.model = model;
        LlamaModel t = model.transformer();
        int maxBlocks = (t.config().contextLength() + blockSize - 1) / blockSize;
        this.forward = new PromptLogits(new CpuForward<>(t, Function.identity(), chunkTokens, 1));
        this.loop = new EngineLoop<>(new PoolBlockManager(t.newKvPool(blockSize, maxBlocks, type)), forward,
                model.tokenizer(), t.config().contextLength(), 1, EngineLoop.Observer.NONE);
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
     * @param prompt     token ids, validated against the vocabulary and the context length
     * @param maxTokens  upper bound on generated tokens (at least 1); generation also stops at
     *                   end-of-generation and where the context ends
     * @param keepLogits copy the raw logits of the last prompt position into the result
     */
    public Result generate(int[] prompt, int maxTokens, SamplingParams sampling, boolean keepLogits, TokenListener listener) {
        int context = model.transformer().config().contextLength();
        RequestCheck.prompt(prompt, model.transformer().config().vocabSize(), context);
        int[] out = new int[Math.max(0, Math.min(maxTokens, context - prompt.length))];
        int[] n = {0};
        String[] finish = {null};
        RuntimeException[] failure = {null};
        forward.keep = keepLogits;
        forward.logits = null;
        loop.submit(new EngineLoop.Request("local", prompt, out.length == 0 ? maxTokens : out.length, sampling),
                new EngineLoop.Listener() {
                    @Override
                    public void onToken(int token) {
                        out[n[0]++] = token;
                        listener.onToken(token);
                    }

                    @Override
                    public void onFinish(EngineLoop.Finish f) {
                        finish[0] = f.reason();
                    }

                    @Override
                    public void onError(RuntimeException e) {
                        failure[0] = e;
                    }
                });
        while (loop.step()) {
            // until the sequence has left the loop
        }
        if (failure[0] != null) {
            throw failure[0];
        }
        return new Result(prompt, Arrays.copyOf(out, n[0]), forward.logits, finish[0]);
    }

    /**
     * @param finishReason {@code stop} (end-of-generation token) or {@code length}
     */
    public record Result(int[] promptTokens, int[] tokens, float[] lastPromptLogits, String finishReason) {
    }

    /** The CPU pass, keeping a copy of the prompt's last logits when asked. */
    private static final class PromptLogits implements ForwardPass<BlockTable> {
        private final ForwardPass<BlockTable> cpu;
        boolean keep;
        float[] logits;

        PromptLogits(ForwardPass<BlockTable> cpu) {
            this.cpu = cpu;
        }

        @Override
        public int vocabSize() {
            return cpu.vocabSize();
        }

        @Override
        public float[] prefill(BlockTable kv, int[] prompt, int from) {
            float[] last = cpu.prefill(kv, prompt, from);
            if (keep) {
                logits = last.clone();
            }
            return last;
        }

        @Override
        public float[] step(List<BlockTable> kvs, int[] tokens) {
            return cpu.step(kvs, tokens);
        }
    }
}
