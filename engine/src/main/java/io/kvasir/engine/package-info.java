/**
 * The model runtime shared by prefill and decode nodes. Start at {@link io.kvasir.engine.Model#load}
 * (a GGUF file or a Hugging Face folder) and {@link io.kvasir.engine.Generator} (prefill, then decode
 * over the sequence's KV blocks).
 */
package io.kvasir.engine;
