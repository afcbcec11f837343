package io.kvasir.cuda;

import java.util.Arrays;
import java.util.function.IntConsumer;

import io.kvasir.engine.RequestCheck;
import io.kvasir.engine.Model;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.engine.sampling.SamplingParams;

/**
 * Generation with the model on a GPU: the prompt in chunks, then one token per step, sampled on the
 * host from the logits (the engine's {@link Sampler}, so a seed gives what it gives on the CPU when
 * the logits agree), stopping at end-of-generation or {@code maxTokens}.
 */
public final class CudaGenerator implements AutoCloseable {
    /** Generated tokens and why generation ended ("stop" or "length"). */
    public record Result(int[] tokens, String finishReason) {
    }

    private final Model model;
    private final CudaLlamaModel gpu;

    /** Uploads {@code model} to {@code device}, with room for {@code maxSequence} tokens. */
    public CudaGenerator(CudaDevice device, Model model, int maxSequence) {
        this.model = model;
        this.gpu = new CudaLlamaModel(device, model.transformer(), maxSequence, 256, 16);
    }

    public Result generate(int[] prompt, int maxTokens, SamplingParams sampling, IntConsumer onToken) {
        RequestCheck.prompt(prompt, model.transformer().config().vocabSize(), model.transformer().config().contextLength());
        gpu.reset();
        Sampler sampler = new Sampler(sampling, model.transformer().config().vocabSize());
        int[] out = new int[maxTokens];
        float[] logits = gpu.forward(prompt);
        for (int i = 0; i < maxTokens; i++) {
            int token = sampler.sample(logits);
            out[i] = token;
            onToken.accept(token);
            if (model.tokenizer().isEndOfGeneration(token)) {
                return new Result(Arrays.copyOf(out, i + 1), "stop");
            }
            if (i + 1 < maxTokens) {
                logits = gpu.forward(new int[] {token});
            }
        }
        return new Result(out, "length");
    }

    @Override
    public void close() {
        gpu.close();
    }
}
