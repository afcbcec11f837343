package io.kvasir.engine;

import io.kvasir.engine.weights.GgufWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The model {@code kvasir serve} runs when given none: no weights can be downloaded, so it writes
 * a small Llama-shaped GGUF with seeded random weights (the same bytes on every machine) and a
 * SentencePiece-style vocabulary of byte tokens, ASCII characters and {@code ▁}-prefixed letters.
 * Its text is noise; what it shows is the serving path: prefix caching, batching, streaming.
 */
public final class BuiltinModel {
    /**
     * A Llama shape with this vocabulary and seeded random weights, F32 or F16.
     *
     * @param name          the file name: bump it when the generated model changes, so old files are not reused
     * @param kvShareFactor cross-layer KV sharing: only every this-many-th layer has K/V projections (1: all)
     */
    public record Shape(String name, int dim, int layers, int heads, int kvHeads, int ffn, int context, boolean f16,
                        int kvShareFactor) {
        public Shape(String name, int dim, int layers, int heads, int kvHeads, int ffn, int context, boolean f16) {
            this(name, dim, layers, heads, kvHeads, ffn, context, f16, 1);
        }

        /** Parameters, embeddings and output included. */
        public long parameters() {
            long kv = (long) kvHeads * (dim / heads);
            long kvLayers = (layers + kvShareFactor - 1) / kvShareFactor;
            return 2L * VOCAB * dim + layers * (2L * dim * dim + 3L * dim * ffn) + kvLayers * 2L * kv * dim;
        }

        /** This shape with only every {@code factor}-th layer computing K/V, in a file of its own name. */
        public Shape withKvSharing(int factor) {
            return new Shape(name.replace(".gguf", "-cla" + factor + ".gguf"), dim, layers, heads, kvHeads, ffn, context,
                    f16, factor);
        }
    }

    /** What {@code serve} runs without --model: 3.4 MB, fast enough for every test. */
    public static final Shape DEFAULT = new Shape("kvasir-builtin-v2.gguf", 128, 4, 8, 2, 384, 8192, false);
    static final String NAME = DEFAULT.name();
    static final int VOCAB = 3 + 256 + 94 + 1 + 26;

    private BuiltinModel() {
    }

    /** The built-in model's file under {@code dir}, written first if missing. */
    public static Path ensure(Path dir) {
        return ensure(dir, DEFAULT);
    }

    /** A model of {@code shape} under {@code dir}, written first if missing. */
    public static Path ensure(Path dir, Shape shape) {
        Path file = dir.resolve(shape.name());
        if (Files.exists(file)) {
            return file;
        }
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, shape.name(), ".tmp");
            writer(shape).write(tmp);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the built-in model to " + dir + ": " + e.getMessage(), e);
        }
    }

    static GgufWriter writer() {
        return writer(DEFAULT);
    }

    static GgufWriter writer(Shape shape) {
        int dim = shape.dim(), kvHeads = shape.kvHeads(), ffn = shape.ffn();
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Integer> types = new ArrayList<>(List.of(2, 3, 3)); // unknown, control, control
        for (int b = 0; b < 256; b++) {
            tokens.add(String.format("<0x%02X>", b));
            types.add(6); // byte
        }
        for (char c = 33; c < 127; c++) {
            tokens.add(String.valueOf(c));
            types.add(1);
        }
        tokens.add("▁");
        types.add(1);
        for (char c = 'a'; c <= 'z'; c++) {
            tokens.add("▁" + c);
            types.add(1);
        }
        int vocab = tokens.size();
        float[] scores = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            scores[i] = -i; // earlier pieces win ties, as in SentencePiece vocabularies
        }
        GgufWriter w = new GgufWriter();
        w.metadata.put("general.architecture", "llama");
        w.metadata.put("general.name", "kvasir built-in (random weights)");
        w.metadata.put("llama.embedding_length", dim);
        w.metadata.put("llama.block_count", shape.layers());
        w.metadata.put("llama.attention.head_count", shape.heads());
        w.metadata.put("llama.attention.head_count_kv", kvHeads);
        w.metadata.put("llama.feed_forward_length", ffn);
        w.metadata.put("llama.context_length", shape.context());
        w.metadata.put("llama.rope.freq_base", 10000f);
        w.metadata.put("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        if (shape.kvShareFactor() > 1) {
            w.metadata.put("llama.attention.cla_share_factor", shape.kvShareFactor());
        }
        w.metadata.put("tokenizer.ggml.model", "llama");
        w.metadata.put("tokenizer.ggml.tokens", tokens.toArray(String[]::new));
        w.metadata.put("tokenizer.ggml.scores", scores);
        w.metadata.put("tokenizer.ggml.token_type", types.stream().mapToInt(Integer::intValue).toArray());
        w.metadata.put("tokenizer.ggml.bos_token_id", 1);
        w.metadata.put("tokenizer.ggml.eos_token_id", 2);
        // a ChatML-style template, so /v1/chat/completions works on the built-in model too
        w.metadata.put("tokenizer.chat_template", "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n"
                + "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}");
        SplittableRandom random = new SplittableRandom(0x6b766173L); // "kvas"
        int headDim = dim / shape.heads();
        boolean f16 = shape.f16();
        w.tensors.put("token_embd.weight", matrix(random, vocab, dim, 0.5f, f16));
        w.tensors.put("output_norm.weight", GgufWriter.Tensor.onesF32(dim));
        w.tensors.put("output.weight", matrix(random, vocab, dim, 0.08f, f16));
        for (int l = 0; l < shape.layers(); l++) {
            String p = "blk." + l + ".";
            w.tensors.put(p + "attn_norm.weight", GgufWriter.Tensor.onesF32(dim));
            w.tensors.put(p + "attn_q.weight", matrix(random, dim, dim, 0.08f, f16));
            if (l % shape.kvShareFactor() == 0) { // other layers attend to these K/V
                w.tensors.put(p + "attn_k.weight", matrix(random, kvHeads * headDim, dim, 0.08f, f16));
                w.tensors.put(p + "attn_v.weight", matrix(random, kvHeads * headDim, dim, 0.08f, f16));
            }
            w.tensors.put(p + "attn_output.weight", matrix(random, dim, dim, 0.08f, f16));
            w.tensors.put(p + "ffn_norm.weight", GgufWriter.Tensor.onesF32(dim));
            w.tensors.put(p + "ffn_gate.weight", matrix(random, ffn, dim, 0.08f, f16));
            w.tensors.put(p + "ffn_up.weight", matrix(random, ffn, dim, 0.08f, f16));
            w.tensors.put(p + "ffn_down.weight", matrix(random, dim, ffn, 0.08f, f16));
        }
        return w;
    }

    /** Row-major (rows, cols), F32 or F16, from a uniform distribution of the given standard deviation. */
    private static GgufWriter.Tensor matrix(SplittableRandom random, int rows, int cols, float std, boolean f16) {
        int n = rows * cols;
        ByteBuffer b = ByteBuffer.allocate(n * (f16 ? 2 : 4)).order(ByteOrder.LITTLE_ENDIAN);
        double half = std * Math.sqrt(3);
        for (int i = 0; i < n; i++) {
            float v = (float) ((random.nextDouble() * 2 - 1) * half);
            if (f16) {
                b.putShort(Float.floatToFloat16(v));
            } else {
                b.putFloat(v);
            }
        }
        return new GgufWriter.Tensor(new long[] {rows, cols}, f16 ? 1 : 0, b.array());
    }

}
