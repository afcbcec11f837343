package io.kvasir.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import io.kvasir.engine.weights.GgufWriter;

/**
 * A GGUF of Llama-3.2-1B's shape (dim 2048, 16 layers, 32/8 heads, FFN 8192, vocab 128256) with
 * random F16 weights, written on the GPU machine itself (a 2.5 GB file is nothing to carry there):
 * the speed figures need the shape, not trained weights.
 */
final class SyntheticModel {
    static final int DIM = 2048, LAYERS = 16, HEADS = 32, KV_HEADS = 8, FFN = 8192, VOCAB = 128256;

    private SyntheticModel() {
    }

    static Path llama1b(Path dir) {
        Path file = dir.resolve("kvasir-synthetic-1b-f16.gguf");
        if (Files.exists(file)) {
            return file;
        }
        String[] tokens = new String[VOCAB];
        float[] scores = new float[VOCAB];
        int[] types = new int[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            tokens[i] = i < 3 ? new String[] {"<unk>", "<s>", "</s>"}[i] : "t" + i;
            types[i] = i == 0 ? 2 : i < 3 ? 3 : 1;
            scores[i] = -i;
        }
        GgufWriter w = new GgufWriter();
        w.metadata.put("general.architecture", "llama");
        w.metadata.put("llama.embedding_length", DIM);
        w.metadata.put("llama.block_count", LAYERS);
        w.metadata.put("llama.attention.head_count", HEADS);
        w.metadata.put("llama.attention.head_count_kv", KV_HEADS);
        w.metadata.put("llama.feed_forward_length", FFN);
        w.metadata.put("llama.context_length", 8192);
        w.metadata.put("llama.rope.freq_base", 500000f);
        w.metadata.put("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.metadata.put("tokenizer.ggml.model", "llama");
        w.metadata.put("tokenizer.ggml.tokens", tokens);
        w.metadata.put("tokenizer.ggml.scores", scores);
        w.metadata.put("tokenizer.ggml.token_type", types);
        w.metadata.put("tokenizer.ggml.bos_token_id", 1);
        w.metadata.put("tokenizer.ggml.eos_token_id", 2);
        SplittableRandom random = new SplittableRandom(1);
        int kvDim = KV_HEADS * (DIM / HEADS);
        w.tensors.put("token_embd.weight", f16(random, VOCAB, DIM, 0.5f));
        w.tensors.put("output_norm.weight", GgufWriter.Tensor.onesF32(DIM));
        w.tensors.put("output.weight", f16(random, VOCAB, DIM, 0.02f));
        for (int l = 0; l < LAYERS; l++) {
            String p = "blk." + l + ".";
            w.tensors.put(p + "attn_norm.weight", GgufWriter.Tensor.onesF32(DIM));
            w.tensors.put(p + "attn_q.weight", f16(random, DIM, DIM, 0.02f));
            w.tensors.put(p + "attn_k.weight", f16(random, kvDim, DIM, 0.02f));
            w.tensors.put(p + "attn_v.weight", f16(random, kvDim, DIM, 0.02f));
            w.tensors.put(p + "attn_output.weight", f16(random, DIM, DIM, 0.02f));
            w.tensors.put(p + "ffn_norm.weight", GgufWriter.Tensor.onesF32(DIM));
            w.tensors.put(p + "ffn_gate.weight", f16(random, FFN, DIM, 0.02f));
            w.tensors.put(p + "ffn_up.weight", f16(random, FFN, DIM, 0.02f));
            w.tensors.put(p + "ffn_down.weight", f16(random, DIM, FFN, 0.02f));
        }
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "synthetic", ".tmp");
            w.write(tmp);
            Files.move(tmp, file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
        return file;
    }

    /** A row-major (rows, cols) F16 matrix, uniform with the given standard deviation. */
    private static GgufWriter.Tensor f16(SplittableRandom random, int rows, int cols, float std) {
        ByteBuffer b = ByteBuffer.allocate(rows * cols * 2).order(ByteOrder.LITTLE_ENDIAN);
        double half = std * Math.sqrt(3);
        for (int i = 0; i < rows * cols; i++) {
            b.putShort(Float.floatToFloat16((float) ((random.nextDouble() * 2 - 1) * half)));
        }
        return new GgufWriter.Tensor(new long[] {rows, cols}, 1, b.array());
    }

}
