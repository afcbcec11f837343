package io.kvasir.engine.model;

/**
 * Checkpoint tensor names of the Llama family, verbatim, for the two layouts Kvasir reads.
 * This is the only place those names appear.
 */
enum WeightNames {
    GGUF("token_embd.weight", "output_norm.weight", "output.weight", "blk.%d.",
            "attn_norm.weight", "attn_q.", "attn_k.", "attn_v.", "attn_output.weight",
            "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"),
    HUGGING_FACE("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "model.layers.%d.",
            "input_layernorm.weight", "self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.", "self_attn.o_proj.weight",
            "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight");

    public final String tokenEmbedding;
    public final String outputNorm;
    public final String output;
    private final String layerPrefix;
    private final String attnNorm, q, k, v, attnOutput, ffnNorm, ffnGate, ffnUp, ffnDown;

    WeightNames(String tokenEmbedding, String outputNorm, String output, String layerPrefix, String attnNorm,
                String q, String k, String v, String attnOutput, String ffnNorm, String ffnGate, String ffnUp, String ffnDown) {
        this.tokenEmbedding = tokenEmbedding;
        this.outputNorm = outputNorm;
        this.output = output;
        this.layerPrefix = layerPrefix;
        this.attnNorm = attnNorm;
        this.q = q;
        this.k = k;
        this.v = v;
        this.attnOutput = attnOutput;
        this.ffnNorm = ffnNorm;
        this.ffnGate = ffnGate;
        this.ffnUp = ffnUp;
        this.ffnDown = ffnDown;
    }

    private String layer(int i, String name) {
        return layerPrefix.formatted(i) + name;
    }

    public String attnNorm(int i) { return layer(i, attnNorm); }
    public String q(int i) { return layer(i, q + "weight"); }
    public String k(int i) { return layer(i, k + "weight"); }
    public String v(int i) { return layer(i, v + "weight"); }
    public String qBias(int i) { return layer(i, q + "bias"); }
    public String kBias(int i) { return layer(i, k + "bias"); }
    public String vBias(int i) { return layer(i, v + "bias"); }
    public String attnOutput(int i) { return layer(i, attnOutput); }
    /** Qwen3's per-head query and key norms. */
    public String qNorm(int i) { return layer(i, gguf() ? "attn_q_norm.weight" : "self_attn.q_norm.weight"); }
    public String kNorm(int i) { return layer(i, gguf() ? "attn_k_norm.weight" : "self_attn.k_norm.weight"); }
    public String ffnNorm(int i) { return layer(i, ffnNorm); }
    public String ffnGate(int i) { return layer(i, ffnGate); }
    public String ffnUp(int i) { return layer(i, ffnUp); }
    public String ffnDown(int i) { return layer(i, ffnDown); }

    // Multi-head Latent Attention: llama.cpp's deepseek2 names, Hugging Face DeepseekV2's
    public String qA(int i) { return layer(i, gguf() ? "attn_q_a.weight" : "self_attn.q_a_proj.weight"); }
    public String qANorm(int i) { return layer(i, gguf() ? "attn_q_a_norm.weight" : "self_attn.q_a_layernorm.weight"); }
    public String qB(int i) { return layer(i, gguf() ? "attn_q_b.weight" : "self_attn.q_b_proj.weight"); }
    public String kvA(int i) { return layer(i, gguf() ? "attn_kv_a_mqa.weight" : "self_attn.kv_a_proj_with_mqa.weight"); }
    public String kvANorm(int i) { return layer(i, gguf() ? "attn_kv_a_norm.weight" : "self_attn.kv_a_layernorm.weight"); }
    /** The K/V up-projection as one matrix, per head rows [k_nope | v] (HF kv_b_proj, old GGUF attn_kv_b). */
    public String kvB(int i) { return layer(i, gguf() ? "attn_kv_b.weight" : "self_attn.kv_b_proj.weight"); }
    /** GGUF only: the split, absorbed-ready halves of kvB (k transposed per head, v per head). */
    public String kB(int i) { return layer(i, "attn_k_b.weight"); }
    public String vB(int i) { return layer(i, "attn_v_b.weight"); }

    // Mixture of Experts. GGUF stacks the experts in 3-D tensors; Hugging Face keeps one tensor per
    // expert, named as Mixtral does ({@code mixtral}: block_sparse_moe, w1 gate, w3 up, w2 down) or as
    // Qwen and DeepSeek do (mlp, gate_proj, up_proj, down_proj)
    public String router(int i, boolean mixtral) { return layer(i, gguf() ? "ffn_gate_inp.weight" : moe(mixtral) + "gate.weight"); }
    public String expertsGate(int i) { return layer(i, "ffn_gate_exps.weight"); }
    public String expertsUp(int i) { return layer(i, "ffn_up_exps.weight"); }
    public String expertsDown(int i) { return layer(i, "ffn_down_exps.weight"); }
    public String expertGate(int i, int e, boolean mixtral) { return expert(i, e, mixtral, "w1", "gate_proj"); }
    public String expertUp(int i, int e, boolean mixtral) { return expert(i, e, mixtral, "w3", "up_proj"); }
    public String expertDown(int i, int e, boolean mixtral) { return expert(i, e, mixtral, "w2", "down_proj"); }
    public String sharedGate(int i) { return layer(i, gguf() ? "ffn_gate_shexp.weight" : "mlp.shared_experts.gate_proj.weight"); }
    public String sharedUp(int i) { return layer(i, gguf() ? "ffn_up_shexp.weight" : "mlp.shared_experts.up_proj.weight"); }
    public String sharedDown(int i) { return layer(i, gguf() ? "ffn_down_shexp.weight" : "mlp.shared_experts.down_proj.weight"); }
    /** DeepSeek-V3's expert-selection bias (added to the probabilities for the choice only). */
    public String selectionBias(int i) { return layer(i, gguf() ? "exp_probs_b.bias" : "mlp.gate.e_score_correction_bias"); }

    private String expert(int i, int e, boolean mixtral, String mixtralName, String name) {
        return layer(i, moe(mixtral) + "experts." + e + "." + (mixtral ? mixtralName : name) + ".weight");
    }

    private static String moe(boolean mixtral) {
        return mixtral ? "block_sparse_moe." : "mlp.";
    }

    private boolean gguf() {
        return this == GGUF;
    }
}
