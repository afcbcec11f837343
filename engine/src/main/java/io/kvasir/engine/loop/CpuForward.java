package io.kvasir.engine.loop;

import java.util.List;
import java.util.function.Function;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.model.Batch;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;

/** The forward pass on the CPU: prompts in chunks of {@code prefillChunk} tokens, steps of up to {@code maxBatch} sequences. */
public final class CpuForward<K> implements ForwardPass<K> {
    private final LlamaModel model;
    private final Function<K, BlockTable> tableOf;
    private final ForwardBuffers prefillBuffers;
    private final ForwardBuffers stepBuffers;
    private final Batch batch;

    /** {@code tableOf}: the block table a sequence's KV is in. */
    public CpuForward(LlamaModel model, Function<K, BlockTable> tableOf, int prefillChunk, int maxBatch) {
        this.model = model;
        this.tableOf = tableOf;
        this.prefillBuffers = model.newBuffers(prefillChunk);
        this.stepBuffers = model.newBuffers(maxBatch, maxBatch);
        this.batch = new Batch(maxBatch);
    }

    @Override
    public int vocabSize() {
        return model.config().vocabSize();
    }

    @Override
    public float[] prefill(K kv, int[] prompt, int from) {
        model.forward(prompt, from, prompt.length, tableOf.apply(kv), prefillBuffers);
        return prefillBuffers.logits;
    }

    @Override
    public float[] step(List<K> kvs, int[] tokens) {
        batch.clear();
        for (int i = 0; i < kvs.size(); i++) {
            BlockTable table = tableOf.apply(kvs.get(i));
            batch.add(tokens[i], table.numTokens(), table, true);
        }
        model.forward(batch, stepBuffers);
        return stepBuffers.logits;
    }
}
