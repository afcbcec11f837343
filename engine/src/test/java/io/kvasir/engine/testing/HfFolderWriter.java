package io.kvasir.engine.testing;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.WeightMatrix;
import io.kvasir.engine.weights.GgufFile;
import io.kvasir.engine.weights.TensorInfo;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF model out as a Hugging Face folder (config.json, safetensors, tokenizer.json), as
 * the HF → GGUF converter would have read it: tensor names mapped back, Q/K rows of {@code llama}
 * files permuted from the interleaved RoPE layout back to rotate-half, and a tokenizer.json whose
 * BPE merges reproduce the SentencePiece vocabulary (as HF's Llama tokenizer does).
 */
public final class HfFolderWriter {
    private final GgufFile gguf;
    private final String arch;
    private final Map<String, Object> meta;

    public HfFolderWriter(GgufFile gguf) {
        this.gguf = gguf;
        this.meta = gguf.metadata();
        this.arch = (String) meta.get("general.architecture");
    }

    /** @param numShards 1 writes model.safetensors; more write shards plus model.safetensors.index.json */
    public void write(Path folder, DType dtype, int numShards) throws IOException {
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("config.json"), gson().toJson(config()));
        Files.writeString(folder.resolve("tokenizer.json"), gson().toJson(tokenizer()));
        Map<String, float[]> tensors = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        int heads = intMeta("attention.head_count");
        int kvHeads = intMeta("attention.head_count_kv");
        for (TensorInfo t : gguf.tensors().values()) {
            if (t.name().endsWith("attn_k_b.weight")) {
                // DeepSeek-V2 keeps one kv_b_proj (heads·(nope + v), rank); GGUF splits and transposes it
                String layer = t.name().substring(0, t.name().length() - "attn_k_b.weight".length());
                float[] kvB = joinKvB(t, gguf.tensors().get(layer + "attn_v_b.weight"));
                String name = hfName(layer + "attn_kv_b.weight");
                tensors.put(name, kvB);
                shapes.put(name, new long[] {kvB.length / t.shape()[1], t.shape()[1]});
                continue;
            }
            if (t.name().endsWith("attn_v_b.weight")) continue; // joined above
            if (t.name().endsWith("_exps.weight")) {
                // GGUF stacks the experts in one (experts, rows, cols) tensor; HF keeps one tensor each
                int experts = (int) t.shape()[0], rows = (int) t.shape()[1], cols = (int) t.shape()[2];
                float[] all = values(t);
                String layer = t.name().substring(0, t.name().indexOf('.', 4) + 1);
                String kind = t.name().substring(layer.length(), t.name().length() - "_exps.weight".length());
                for (int e = 0; e < experts; e++) {
                    String name = expertName(layer, kind, e);
                    tensors.put(name, java.util.Arrays.copyOfRange(all, e * rows * cols, (e + 1) * rows * cols));
                    shapes.put(name, new long[] {rows, cols});
                }
                continue;
            }
            String name = hfName(t.name());
            if (name == null) continue; // rope_freqs: HF derives it from rope_scaling
            float[] values = values(t);
            if (arch.equals("llama") && t.name().endsWith("attn_q.weight")) values = unpermute(values, heads, t.shape());
            if (arch.equals("llama") && t.name().endsWith("attn_k.weight")) values = unpermute(values, kvHeads, t.shape());
            tensors.put(name, values);
            shapes.put(name, t.shape());
        }
        List<String> names = new ArrayList<>(tensors.keySet());
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int s = 0; s < numShards; s++) {
            String file = numShards == 1 ? "model.safetensors" : "model-%05d-of-%05d.safetensors".formatted(s + 1, numShards);
            Map<String, float[]> part = new LinkedHashMap<>();
            for (int i = s; i < names.size(); i += numShards) {
                part.put(names.get(i), tensors.get(names.get(i)));
                weightMap.put(names.get(i), file);
            }
            writeSafetensors(folder.resolve(file), part, shapes, dtype);
        }
        if (numShards > 1) {
            Files.writeString(folder.resolve("model.safetensors.index.json"),
                    gson().toJson(Map.of("metadata", Map.of(), "weight_map", weightMap)));
        }
    }

    private static Gson gson() {
        return new GsonBuilder().disableHtmlEscaping().create();
    }

    private int intMeta(String key) {
        return ((Number) meta.get(arch + "." + key)).intValue();
    }

    /** kv_b_proj from attn_k_b (heads, rank, nope) and attn_v_b (heads, v, rank): per head nope rows then v rows. */
    private static float[] joinKvB(TensorInfo kB, TensorInfo vB) {
        int heads = (int) kB.shape()[0], rank = (int) kB.shape()[1], nope = (int) kB.shape()[2], v = (int) vB.shape()[1];
        float[] k = values(kB), vv = values(vB);
        float[] out = new float[heads * (nope + v) * rank];
        for (int h = 0; h < heads; h++) {
            for (int j = 0; j < nope; j++) {
                for (int i = 0; i < rank; i++) {
                    out[(h * (nope + v) + j) * rank + i] = k[(h * rank + i) * nope + j];
                }
            }
            for (int j = 0; j < v; j++) {
                System.arraycopy(vv, (h * v + j) * rank, out, (h * (nope + v) + nope + j) * rank, rank);
            }
        }
        return out;
    }

    private Map<String, Object> config() {
        if (arch.equals("deepseek2")) {
            return deepseekConfig();
        }
        Map<String, Object> c = new LinkedHashMap<>();
        boolean tied = !gguf.tensors().containsKey("output.weight");
        boolean experts = meta.containsKey(arch + ".expert_count");
        c.put("architectures", List.of(switch (arch) {
            case "qwen2" -> "Qwen2ForCausalLM";
            case "qwen3" -> "Qwen3ForCausalLM";
            case "qwen3moe" -> "Qwen3MoeForCausalLM";
            default -> experts ? "MixtralForCausalLM" : "LlamaForCausalLM";
        }));
        if (experts) {
            c.put(arch.equals("llama") ? "num_local_experts" : "num_experts", intMeta("expert_count"));
            c.put("num_experts_per_tok", intMeta("expert_used_count"));
            if (arch.equals("qwen3moe")) {
                c.put("moe_intermediate_size", intMeta("expert_feed_forward_length"));
                c.put("norm_topk_prob", true);
            }
        }
        if (meta.containsKey(arch + ".attention.key_length")) {
            c.put("head_dim", intMeta("attention.key_length"));
        }
        c.put("hidden_size", intMeta("embedding_length"));
        c.put("num_hidden_layers", intMeta("block_count"));
        c.put("num_attention_heads", intMeta("attention.head_count"));
        c.put("num_key_value_heads", intMeta("attention.head_count_kv"));
        c.put("intermediate_size", intMeta("feed_forward_length"));
        c.put("vocab_size", (int) gguf.tensors().get("token_embd.weight").shape()[0]);
        c.put("max_position_embeddings", intMeta("context_length"));
        c.put("rms_norm_eps", ((Number) meta.get(arch + ".attention.layer_norm_rms_epsilon")).doubleValue());
        c.put("rope_theta", ((Number) meta.get(arch + ".rope.freq_base")).doubleValue());
        c.put("tie_word_embeddings", tied);
        if (meta.containsKey(arch + ".attention.cla_share_factor")) { // as Hunyuan's configs name it
            c.put("use_cla", true);
            c.put("cla_share_factor", intMeta("attention.cla_share_factor"));
        }
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        if (gguf.tensors().containsKey("rope_freqs.weight")) {
            // the values make_gguf.py (and Meta's Llama 3.x configs) use
            c.put("rope_scaling", Map.of("rope_type", "llama3", "factor", 32.0, "low_freq_factor", 1.0,
                    "high_freq_factor", 4.0, "original_max_position_embeddings", 8192));
        }
        return c;
    }

    private Map<String, Object> deepseekConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        int ropeDims = intMeta("rope.dimension_count");
        boolean split = meta.containsKey(arch + ".attention.key_length_mla");
        c.put("architectures", List.of("DeepseekV2ForCausalLM"));
        c.put("hidden_size", intMeta("embedding_length"));
        c.put("num_hidden_layers", intMeta("block_count"));
        c.put("num_attention_heads", intMeta("attention.head_count"));
        c.put("num_key_value_heads", intMeta("attention.head_count"));
        c.put("intermediate_size", intMeta("feed_forward_length"));
        c.put("vocab_size", (int) gguf.tensors().get("token_embd.weight").shape()[0]);
        c.put("max_position_embeddings", intMeta("context_length"));
        c.put("rms_norm_eps", ((Number) meta.get(arch + ".attention.layer_norm_rms_epsilon")).doubleValue());
        c.put("rope_theta", ((Number) meta.get(arch + ".rope.freq_base")).doubleValue());
        int qLora = gguf.tensors().containsKey("blk.0.attn_q_a.weight") ? intMeta("attention.q_lora_rank") : 0;
        c.put("q_lora_rank", qLora == 0 ? null : qLora);
        c.put("kv_lora_rank", intMeta("attention.kv_lora_rank"));
        c.put("qk_rope_head_dim", ropeDims);
        c.put("qk_nope_head_dim", intMeta(split ? "attention.key_length_mla" : "attention.key_length") - ropeDims);
        c.put("v_head_dim", intMeta(split ? "attention.value_length_mla" : "attention.value_length"));
        if (meta.containsKey(arch + ".expert_count")) {
            c.put("n_routed_experts", intMeta("expert_count"));
            c.put("num_experts_per_tok", intMeta("expert_used_count"));
            c.put("moe_intermediate_size", intMeta("expert_feed_forward_length"));
            c.put("n_shared_experts", intMeta("expert_shared_count"));
            c.put("first_k_dense_replace", intMeta("leading_dense_block_count"));
            c.put("norm_topk_prob", Boolean.TRUE.equals(meta.get(arch + ".expert_weights_norm")));
            c.put("routed_scaling_factor", ((Number) meta.get(arch + ".expert_weights_scale")).doubleValue());
            c.put("scoring_func", intMeta("expert_gating_func") == 2 ? "sigmoid" : "softmax");
        } else {
            c.put("n_routed_experts", null);
            c.put("first_k_dense_replace", intMeta("block_count"));
        }
        c.put("tie_word_embeddings", !gguf.tensors().containsKey("output.weight"));
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        if ("yarn".equals(meta.get(arch + ".rope.scaling.type"))) {
            double mscaleAllDim = ((Number) meta.get(arch + ".rope.scaling.yarn_log_multiplier")).doubleValue() / 0.1;
            c.put("rope_scaling", Map.of("type", "yarn",
                    "factor", ((Number) meta.get(arch + ".rope.scaling.factor")).doubleValue(),
                    "original_max_position_embeddings", intMeta("rope.scaling.original_context_length"),
                    "beta_fast", 32, "beta_slow", 1, "mscale", mscaleAllDim, "mscale_all_dim", mscaleAllDim));
        }
        return c;
    }

    /** One expert's tensor (kind ffn_gate, ffn_up, ffn_down) as Mixtral or Qwen/DeepSeek name it. */
    private String expertName(String ggufLayer, String kind, int e) {
        String layer = "model.layers." + ggufLayer.substring(4);
        if (arch.equals("llama")) {
            return layer + "block_sparse_moe.experts." + e + "." + switch (kind) {
                case "ffn_gate" -> "w1";
                case "ffn_up" -> "w3";
                default -> "w2";
            } + ".weight";
        }
        return layer + "mlp.experts." + e + "." + kind.substring(4) + "_proj.weight";
    }

    private String hfName(String g) {
        if (g.equals("token_embd.weight")) return "model.embed_tokens.weight";
        if (g.equals("output_norm.weight")) return "model.norm.weight";
        if (g.equals("output.weight")) return "lm_head.weight";
        if (!g.startsWith("blk.")) return null;
        int dot = g.indexOf('.', 4);
        String layer = "model.layers." + g.substring(4, dot) + ".";
        String rest = g.substring(dot + 1);
        return layer + switch (rest) {
            case "attn_norm.weight" -> "input_layernorm.weight";
            case "attn_q.weight" -> "self_attn.q_proj.weight";
            case "attn_k.weight" -> "self_attn.k_proj.weight";
            case "attn_v.weight" -> "self_attn.v_proj.weight";
            case "attn_q.bias" -> "self_attn.q_proj.bias";
            case "attn_k.bias" -> "self_attn.k_proj.bias";
            case "attn_v.bias" -> "self_attn.v_proj.bias";
            case "attn_output.weight" -> "self_attn.o_proj.weight";
            case "attn_q_norm.weight" -> "self_attn.q_norm.weight";
            case "attn_k_norm.weight" -> "self_attn.k_norm.weight";
            case "ffn_norm.weight" -> "post_attention_layernorm.weight";
            case "ffn_gate.weight" -> "mlp.gate_proj.weight";
            case "ffn_up.weight" -> "mlp.up_proj.weight";
            case "ffn_down.weight" -> "mlp.down_proj.weight";
            case "attn_q_a.weight" -> "self_attn.q_a_proj.weight";
            case "attn_q_a_norm.weight" -> "self_attn.q_a_layernorm.weight";
            case "attn_q_b.weight" -> "self_attn.q_b_proj.weight";
            case "attn_kv_a_mqa.weight" -> "self_attn.kv_a_proj_with_mqa.weight";
            case "attn_kv_a_norm.weight" -> "self_attn.kv_a_layernorm.weight";
            case "attn_kv_b.weight" -> "self_attn.kv_b_proj.weight";
            case "ffn_gate_inp.weight" -> arch.equals("llama") ? "block_sparse_moe.gate.weight" : "mlp.gate.weight";
            case "ffn_gate_shexp.weight" -> "mlp.shared_experts.gate_proj.weight";
            case "ffn_up_shexp.weight" -> "mlp.shared_experts.up_proj.weight";
            case "ffn_down_shexp.weight" -> "mlp.shared_experts.down_proj.weight";
            case "exp_probs_b.bias" -> "mlp.gate.e_score_correction_bias";
            default -> throw new IllegalArgumentException("unmapped tensor " + g);
        };
    }

    private static float[] values(TensorInfo t) {
        long[] s = t.shape();
        int cols = (int) s[s.length - 1];
        int rows = (int) (t.numElements() / cols);
        var m = new WeightMatrix(t.name(), t.dtype(), rows, cols, t.data());
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[r * cols + c] = ReferenceBackend.element(m, r, c);
            }
        }
        return out;
    }

    /**
     * The converter's permute maps HF row (h, j, i) to GGUF row (h, i, j) for j < 2, i < headDim/2;
     * this undoes it: HF row h·D + j·D/2 + i = GGUF row h·D + 2i + j.
     */
    private static float[] unpermute(float[] w, int heads, long[] shape) {
        int rows = (int) shape[0], cols = (int) shape[1], d = rows / heads;
        float[] out = new float[w.length];
        for (int h = 0; h < heads; h++) {
            for (int j = 0; j < 2; j++) {
                for (int i = 0; i < d / 2; i++) {
                    System.arraycopy(w, (h * d + 2 * i + j) * cols, out, (h * d + j * (d / 2) + i) * cols, cols);
                }
            }
        }
        return out;
    }

    private static void writeSafetensors(Path file, Map<String, float[]> tensors, Map<String, long[]> shapes, DType dtype)
            throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("__metadata__", Map.of("format", "pt"));
        long offset = 0;
        for (var e : tensors.entrySet()) {
            long bytes = dtype.bytesFor(e.getValue().length);
            header.put(e.getKey(), Map.of("dtype", dtype.name(), "shape", shapes.get(e.getKey()),
                    "data_offsets", List.of(offset, offset + bytes)));
            offset += bytes;
        }
        byte[] json = gson().toJson(header).getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = Files.newOutputStream(file); Arena arena = Arena.ofConfined()) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
            out.write(json);
            for (float[] v : tensors.values()) {
                MemorySegment seg = arena.allocate(dtype.bytesFor(v.length));
                TestTensors.encode(v, dtype, v.length, seg);
                out.write(seg.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            }
        }
    }

    /** A Llama-2-style tokenizer.json: BPE with byte fallback, merges ranked by the merged piece's score. */
    private Map<String, Object> tokenizer() {
        String[] tokens = (String[]) meta.get("tokenizer.ggml.tokens");
        float[] scores = (float[]) meta.get("tokenizer.ggml.scores");
        int[] types = (int[]) meta.get("tokenizer.ggml.token_type");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int i = 0; i < tokens.length; i++) vocab.putIfAbsent(tokens[i], i);
        record Merge(String left, String right, float score, int id) {}
        List<Merge> merges = new ArrayList<>();
        for (var a : vocab.entrySet()) {
            if (types[a.getValue()] != 1) continue;
            for (var b : vocab.entrySet()) {
                if (types[b.getValue()] != 1) continue;
                Integer merged = vocab.get(a.getKey() + b.getKey());
                if (merged != null) merges.add(new Merge(a.getKey(), b.getKey(), scores[merged], merged));
            }
        }
        merges.sort((x, y) -> x.score != y.score ? Float.compare(y.score, x.score) : Integer.compare(vocab.get(x.left), vocab.get(y.left)));
        List<Map<String, Object>> added = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            added.add(Map.of("id", i, "content", tokens[i], "single_word", false, "lstrip", false, "rstrip", false,
                    "normalized", false, "special", true));
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("unk_token", "<unk>");
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        model.put("vocab", vocab);
        model.put("merges", merges.stream().map(m -> m.left + " " + m.right).toList());
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("version", "1.0");
        t.put("added_tokens", added);
        t.put("normalizer", Map.of("type", "Sequence", "normalizers", List.of(
                Map.of("type", "Prepend", "prepend", "\u2581"),
                Map.of("type", "Replace", "pattern", Map.of("String", " "), "content", "\u2581"))));
        t.put("post_processor", Map.of("type", "TemplateProcessing",
                "single", List.of(Map.of("SpecialToken", Map.of("id", "<s>", "type_id", 0)),
                        Map.of("Sequence", Map.of("id", "A", "type_id", 0))),
                "pair", List.of(Map.of("SpecialToken", Map.of("id", "<s>", "type_id", 0)),
                        Map.of("Sequence", Map.of("id", "A", "type_id", 0)),
                        Map.of("Sequence", Map.of("id", "B", "type_id", 1))),
                "special_tokens", Map.of("<s>", Map.of("id", "<s>", "ids", List.of(1), "tokens", List.of("<s>")))));
        t.put("decoder", Map.of("type", "Sequence", "decoders", List.of(
                Map.of("type", "Replace", "pattern", Map.of("String", "\u2581"), "content", " "),
                Map.of("type", "ByteFallback"),
                Map.of("type", "Fuse"),
                Map.of("type", "Strip", "content", " ", "start", 1, "stop", 0))));
        t.put("model", model);
        return t;
    }
}
