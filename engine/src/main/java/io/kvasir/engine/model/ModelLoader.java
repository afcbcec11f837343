package io.kvasir.engine.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import io.kvasir.engine.ChatTemplate;
import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.tokenizer.GgufVocabulary;
import io.kvasir.engine.tokenizer.HfTokenizer;
import io.kvasir.engine.tokenizer.Tokenizer;
import io.kvasir.engine.weights.GgufFile;
import io.kvasir.engine.weights.SafetensorsFolder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/** Opens a GGUF file or a Hugging Face model folder and wires config, weights and tokenizer. */
public final class ModelLoader {
    private ModelLoader() {
    }

    public static Model load(Path path, Backend backend) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file or folder");
        }
        return Files.isDirectory(path) ? loadHuggingFace(path, backend) : loadGguf(path, backend);
    }

    private static Model loadGguf(Path file, Backend backend) {
        GgufFile gguf = GgufFile.open(file);
        try {
            ModelConfig config = GgufConfigReader.read(gguf);
            LlamaWeights weights = LlamaWeights.load(config, gguf.tensors(), WeightNames.GGUF, file.toString());
            Tokenizer tokenizer = GgufVocabulary.read(gguf.metadata(), file.toString()).tokenizer(file.toString());
            return new Model(file, new LlamaModel(config, weights, backend), tokenizer, gguf, ggufChatTemplate(gguf));
        } catch (RuntimeException e) {
            gguf.close();
            throw e;
        }
    }

    private static Model loadHuggingFace(Path folder, Backend backend) {
        Path configJson = folder.resolve("config.json");
        if (!Files.exists(configJson)) {
            throw new ModelFormatException(folder + ": no config.json (a model folder needs config.json, *.safetensors and tokenizer.json)");
        }
        SafetensorsFolder files = SafetensorsFolder.open(folder);
        try {
            boolean hasLmHead = files.tensors().containsKey(WeightNames.HUGGING_FACE.output);
            ModelConfig config = HfConfigReader.read(configJson, hasLmHead);
            LlamaWeights weights = LlamaWeights.load(config, files.tensors(), WeightNames.HUGGING_FACE, folder.toString());
            Path tokenizerJson = folder.resolve("tokenizer.json");
            if (!Files.exists(tokenizerJson)) {
                throw new ModelFormatException(folder + ": no tokenizer.json");
            }
            Tokenizer tokenizer = HfTokenizer.open(tokenizerJson, endTokens(folder));
            return new Model(folder, new LlamaModel(config, weights, backend), tokenizer, files, hfChatTemplate(folder));
        } catch (RuntimeException e) {
            files.close();
            throw e;
        }
    }

    /** {@code tokenizer.chat_template}, with BOS/EOS texts from the vocabulary. */
    private static ChatTemplate ggufChatTemplate(GgufFile gguf) {
        var meta = gguf.metadata();
        if (!(meta.get("tokenizer.chat_template") instanceof String source)) {
            return null;
        }
        String[] tokens = meta.get("tokenizer.ggml.tokens") instanceof String[] t ? t : new String[0];
        return new ChatTemplate(source, tokenText(tokens, meta.get("tokenizer.ggml.bos_token_id")),
                tokenText(tokens, meta.get("tokenizer.ggml.eos_token_id")));
    }

    private static String tokenText(String[] tokens, Object id) {
        return id instanceof Number n && n.intValue() >= 0 && n.intValue() < tokens.length ? tokens[n.intValue()] : "";
    }

    /** {@code chat_template} of tokenizer_config.json (a string, or named templates: "default"). */
    private static ChatTemplate hfChatTemplate(Path folder) {
        Path p = folder.resolve("tokenizer_config.json");
        if (!Files.exists(p)) {
            return null;
        }
        try {
            var json = JsonParser.parseString(Files.readString(p)).getAsJsonObject();
            JsonElement t = json.get("chat_template");
            String source = null;
            if (t != null && t.isJsonPrimitive()) {
                source = t.getAsString();
            } else if (t != null && t.isJsonArray()) {
                for (JsonElement named : t.getAsJsonArray()) {
                    if ("default".equals(named.getAsJsonObject().get("name").getAsString())) {
                        source = named.getAsJsonObject().get("template").getAsString();
                    }
                }
            }
            return source == null ? null : new ChatTemplate(source, specialText(json.get("bos_token")),
                    specialText(json.get("eos_token")));
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(p + ": cannot read chat_template: " + e.getMessage(), e);
        }
    }

    private static String specialText(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return "";
        }
        return e.isJsonObject() ? e.getAsJsonObject().get("content").getAsString() : e.getAsString();
    }

    /** {@code eos_token_id} (a number or a list) from generation_config.json, else config.json. */
    private static Set<Integer> endTokens(Path folder) {
        Set<Integer> ids = new HashSet<>();
        for (String name : new String[] {"generation_config.json", "config.json"}) {
            Path p = folder.resolve(name);
            if (!Files.exists(p)) continue;
            try {
                JsonElement eos = JsonParser.parseString(Files.readString(p)).getAsJsonObject().get("eos_token_id");
                if (eos == null || eos.isJsonNull()) continue;
                if (eos.isJsonArray()) {
                    eos.getAsJsonArray().forEach(e -> ids.add(e.getAsInt()));
                } else {
                    ids.add(eos.getAsInt());
                }
                return ids;
            } catch (IOException | RuntimeException e) {
                throw new ModelFormatException(p + ": cannot read eos_token_id: " + e.getMessage(), e);
            }
        }
        return ids;
    }
}
