package io.kvasir.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import io.kvasir.engine.loop.ForwardPass;

/** The forward pass on a GPU ({@link CudaLlamaModel}); sampling stays on the host, from the logits it returns. */
public final class CudaForward<K> implements ForwardPass<K> {
    private final CudaLlamaModel gpu;
    private final Function<K, CudaLlamaModel.Sequence> sequenceOf;
    private final int vocab;

    /** {@code sequenceOf}: the device sequence a sequence's KV is in. */
    public CudaForward(CudaLlamaModel gpu, Function<K, CudaLlamaModel.Sequence> sequenceOf, int vocab) {
        this.gpu = gpu;
        this.sequenceOf = sequenceOf;
        this.vocab = vocab;
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public float[] prefill(K kv, int[] prompt, int from) {
        return gpu.prefill(sequenceOf.apply(kv), Arrays.copyOfRange(prompt, from, prompt.length));
    }

    @Override
    public float[] step(List<K> kvs, int[] tokens) {
        List<CudaLlamaModel.Sequence> sequences = new ArrayList<>(kvs.size());
        for (K kv : kvs) {
            sequences.add(sequenceOf.apply(kv));
        }
        return gpu.step(sequences, tokens);
    }
}
