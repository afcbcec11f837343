package io.kvasir.engine.tokenizer;

/**
 * Text ↔ token ids for one model. Implementations: {@link HfTokenizer} ({@code tokenizer.json}
 * through DJL's binding of Hugging Face tokenizers) and the GGUF-embedded vocabularies
 * ({@link SentencePieceTokenizer} for {@code llama}, {@link ByteLevelBpeTokenizer} for {@code gpt2}).
 */
public interface Tokenizer extends AutoCloseable {

    /** Token ids of {@code text}, with the BOS token first when the model asks for one. */
    int[] encode(String text);

    /** The text of {@code tokens}; control tokens (BOS, EOS, …) render as nothing. */
    String decode(int[] tokens);

    /** True for tokens that end generation (EOS, end-of-turn). */
    boolean isEndOfGeneration(int token);

    @Override
    default void close() {
    }
}
