package io.kvasir.engine;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.model.ModelLoader;
import io.kvasir.engine.tokenizer.Tokenizer;
import java.nio.file.Path;

/**
 * A loaded model: its transformer, tokenizer and the mapped files behind them. Close it to unmap.
 *
 * @param source       the GGUF file or Hugging Face folder it came from
 * @param chatTemplate the template that renders chat messages as a prompt, or null when the model has none
 */
public record Model(Path source, LlamaModel transformer, Tokenizer tokenizer, AutoCloseable files, ChatTemplate chatTemplate)
        implements AutoCloseable {

    /**
     * Loads a GGUF file or a Hugging Face folder (config.json + *.safetensors + tokenizer.json).
     *
     * @throws ModelFormatException naming the file, tensor or key that is wrong
     */
    public static Model load(Path path, Backend backend) {
        return ModelLoader.load(path, backend);
    }

    @Override
    public void close() {
        try {
            tokenizer.close();
            files.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing " + source + ": " + e.getMessage(), e);
        }
    }

}
