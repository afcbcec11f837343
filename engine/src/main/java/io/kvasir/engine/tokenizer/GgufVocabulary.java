package io.kvasir.engine.tokenizer;

import io.kvasir.engine.ModelFormatException;
import java.util.Map;

/**
 * The vocabulary a GGUF file embeds under {@code tokenizer.ggml.*}.
 *
 * @param model      {@code llama} (SentencePiece) or {@code gpt2} (byte-level BPE)
 * @param types      per token: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
 * @param merges     BPE merges ("left right"), rank = index; empty for SentencePiece
 * @param pre        the pre-tokenizer name (gpt2 models: {@code llama-bpe}, {@code qwen2}, …)
 */
public record GgufVocabulary(String model, String[] tokens, float[] scores, int[] types, String[] merges, String pre,
                             int bosId, int eosId, int eotId, boolean addBos, boolean addSpacePrefix) {
    static final int CONTROL = 3, BYTE = 6, UNUSED = 5;

    public static GgufVocabulary read(Map<String, Object> metadata, String source) {
        Object model = metadata.get("tokenizer.ggml.model");
        if (!(model instanceof String m)) {
            throw new ModelFormatException(source + ": metadata tokenizer.ggml.model is missing");
        }
        if (!(metadata.get("tokenizer.ggml.tokens") instanceof String[] tokens)) {
            throw new ModelFormatException(source + ": metadata tokenizer.ggml.tokens is missing");
        }
        float[] scores = metadata.get("tokenizer.ggml.scores") instanceof float[] s ? s : new float[tokens.length];
        int[] types = metadata.get("tokenizer.ggml.token_type") instanceof int[] t ? t : new int[tokens.length];
        String[] merges = metadata.get("tokenizer.ggml.merges") instanceof String[] mg ? mg : new String[0];
        String pre = metadata.get("tokenizer.ggml.pre") instanceof String p ? p : "default";
        boolean spm = m.equals("llama");
        int eos = id(metadata, "tokenizer.ggml.eos_token_id", spm ? 2 : -1);
        return new GgufVocabulary(m, tokens, scores, types, merges, pre,
                id(metadata, "tokenizer.ggml.bos_token_id", spm ? 1 : -1), eos,
                id(metadata, "tokenizer.ggml.eot_token_id", -1),
                flag(metadata, "tokenizer.ggml.add_bos_token", spm),
                flag(metadata, "tokenizer.ggml.add_space_prefix", spm));
    }

    public Tokenizer tokenizer(String source) {
        return switch (model) {
            case "llama" -> new SentencePieceTokenizer(this);
            case "gpt2" -> new ByteLevelBpeTokenizer(this);
            default -> throw new ModelFormatException(source + ": tokenizer.ggml.model \"" + model + "\" is not supported (llama, gpt2)");
        };
    }

    void checkTokenId(int token) {
        if (token < 0 || token >= tokens.length) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + tokens.length + ")");
        }
    }

    boolean isEndOfGeneration(int token) {
        return token == eosId || token == eotId;
    }

    private static int id(Map<String, Object> metadata, String key, int fallback) {
        return metadata.get(key) instanceof Number n ? n.intValue() : fallback;
    }

    private static boolean flag(Map<String, Object> metadata, String key, boolean fallback) {
        return metadata.get(key) instanceof Boolean b ? b : fallback;
    }
}
