package io.kvasir.engine.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.kvasir.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/** {@code tokenizer.json} through DJL's binding of the Rust Hugging Face tokenizers library. */
public final class HfTokenizer implements Tokenizer {
    private final HuggingFaceTokenizer tokenizer;
    private final Set<Integer> endTokens;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, Set<Integer> endTokens) {
        this.tokenizer = tokenizer;
        this.endTokens = endTokens;
    }

    /** @param endTokens ids that end generation (from config.json / generation_config.json) */
    public static HfTokenizer open(Path tokenizerJson, Set<Integer> endTokens) {
        try {
            var t = HuggingFaceTokenizer.newInstance(tokenizerJson, Map.of(
                    "addSpecialTokens", "true", "truncation", "false", "padding", "false"));
            return new HfTokenizer(t, Set.copyOf(endTokens));
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(tokenizerJson + ": cannot load the tokenizer: " + e.getMessage(), e);
        }
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public String decode(int[] tokens) {
        long[] ids = new long[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            ids[i] = tokens[i];
        }
        return tokenizer.decode(ids, true);
    }

    @Override
    public boolean isEndOfGeneration(int token) {
        return endTokens.contains(token);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
