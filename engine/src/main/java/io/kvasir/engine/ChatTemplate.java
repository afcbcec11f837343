package io.kvasir.engine;

/**
 * A model's chat template (Jinja source, as published with the model: GGUF
 * {@code tokenizer.chat_template}, HF {@code tokenizer_config.json}), with the texts of its BOS and
 * EOS tokens, which templates refer to as {@code bos_token} and {@code eos_token}.
 */
public record ChatTemplate(String source, String bosToken, String eosToken) {
}
