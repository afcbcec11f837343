/**
 * Tokenizers: {@code tokenizer.json} through DJL's Hugging Face binding, and the vocabularies GGUF
 * files embed (SentencePiece {@code llama}, byte-level BPE {@code gpt2}), matched to llama.cpp.
 */
package io.kvasir.engine.tokenizer;
