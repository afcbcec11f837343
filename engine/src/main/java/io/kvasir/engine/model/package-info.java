/**
 * The Llama family (Llama 2/3, Mistral, Qwen2): {@link io.kvasir.engine.model.ModelConfig} read from
 * GGUF metadata or config.json, {@link io.kvasir.engine.model.LlamaWeights} checked against it, and
 * {@link io.kvasir.engine.model.LlamaModel}, whose forward pass reads like the math.
 */
package io.kvasir.engine.model;
