package io.kvasir.engine.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kvasir.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** Reads a {@link ModelConfig} from a Hugging Face {@code config.json}. */
final class HfConfigReader {
    private static final Set<String> LLAMA_LIKE = Set.of("LlamaForCausalLM", "MistralForCausalLM");
    private static final String QWEN2 = "Qwen2ForCausalLM";

    private final Path file;
    private final JsonObject json;

    private HfConfigReader(Path file, JsonObject json) {
        this.file = file;
        this.json = json;
    }

    /**
     * Sliding windows as transformers applies them: Mistral's {@code sliding_window} on every layer
     * (null or absent: none); Qwen2's only with {@code use_sliding_window}, on layers from
     * {@code max_window_layers} up.
     */
    private int[] windows(boolean qwen2) {
        JsonElement w = json.get("sliding_window");
        if (w == null || w.isJsonNull()) {
            return null;
        }
        int layers = integer("num_hidden_layers", null);
        int window = integer("sliding_window", null);
        int firstWindowed = 0;
        if (qwen2) {
            JsonElement use = json.get("use_sliding_window");
            if (use == null || use.isJsonNull() || !use.getAsBoolean()) {
                return null;
            }
            firstWindowed = integer("max_window_layers", 0);
        }
        int[] out = new int[layers];
        for (int l = firstWindowed; l < layers; l++) {
            out[l] = window;
        }
        return out;
    }

    static ModelConfig read(Path configJson, boolean hasLmHead) {
        JsonObject json;
        try {
            json = JsonParser.parseString(Files.readString(configJson)).getAsJsonObject();
        } catch (IOException e) {
            throw new ModelFormatException(configJson + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new ModelFormatException(configJson + ": not a JSON object: " + e.getMessage(), e);
        }
        return new HfConfigReader(configJson, json).read(hasLmHead);
    }

    private ModelConfig read(boolean hasLmHead) {
        var archs = json.getAsJsonArray("architectures");
        String architecture = archs == null || archs.isEmpty() ? null : archs.get(0).getAsString();
        boolean qwen2 = QWEN2.equals(architecture);
        if (!qwen2 && !LLAMA_LIKE.contains(architecture)) {
            throw new ModelFormatException(file + ": architectures " + archs + " is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)");
        }
        int dim = integer("hidden_size", null);
        int numHeads = integer("num_attention_heads", null);
        int headDim = integer("head_dim", numHeads > 0 ? dim / numHeads : 0);
        double base = number("rope_theta", 10000.0);
        float[] freqFactors = null;
        double linearScale = 1;
        JsonElement scalingElement = json.get("rope_scaling");
        if (scalingElement != null && scalingElement.isJsonObject()) {
            JsonObject s = scalingElement.getAsJsonObject();
            String type = s.has("rope_type") ? s.get("rope_type").getAsString() : s.has("type") ? s.get("type").getAsString() : "default";
            switch (type) {
                case "llama3" -> freqFactors = RopeConfig.llama3FreqFactors(headDim, base,
                        s.get("factor").getAsDouble(), s.get("low_freq_factor").getAsDouble(),
                        s.get("high_freq_factor").getAsDouble(), s.get("original_max_position_embeddings").getAsInt());
                case "linear" -> linearScale = s.get("factor").getAsDouble();
                case "default" -> { }
                default -> throw new ModelFormatException(file + ": rope_scaling type \"" + type + "\" is not supported (llama3, linear)");
            }
        }
        boolean tied = json.has("tie_word_embeddings") && json.get("tie_word_embeddings").getAsBoolean() || !hasLmHead;
        try {
            return new ModelConfig(qwen2 ? "qwen2" : "llama", dim,
                    integer("num_hidden_layers", null),
                    numHeads,
                    integer("num_key_value_heads", numHeads),
                    headDim,
                    integer("intermediate_size", null),
                    integer("vocab_size", null),
                    integer("max_position_embeddings", 4096),
                    (float) number("rms_norm_eps", 1e-6),
                    new RopeConfig(RopeLayout.HALF_SPLIT, headDim, base, freqFactors, linearScale),
                    qwen2,
                    tied,
                    null,
                    windows(qwen2));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
    }

    private int integer(String key, Integer fallback) {
        JsonElement v = json.get(key);
        if (v == null || v.isJsonNull()) {
            if (fallback == null) {
                throw new ModelFormatException(file + ": \"" + key + "\" is missing");
            }
            return fallback;
        }
        try {
            return v.getAsInt();
        } catch (RuntimeException e) {
            throw new ModelFormatException(file + ": \"" + key + "\" is " + v + ", not an integer", e);
        }
    }

    private double number(String key, double fallback) {
        JsonElement v = json.get(key);
        if (v == null || v.isJsonNull()) {
            return fallback;
        }
        try {
            return v.getAsDouble();
        } catch (RuntimeException e) {
            throw new ModelFormatException(file + ": \"" + key + "\" is " + v + ", not a number", e);
        }
    }
}
