package io.kvasir.engine.model;

/**
 * Which dimensions RoPE rotates together. Meta's original layout (and GGUF files of llama.cpp's
 * {@code llama} architecture, whose converter permutes Q/K rows into it) rotates adjacent pairs;
 * Hugging Face checkpoints and llama.cpp's {@code qwen2} rotate dimension i with i + d/2.
 */
public enum RopeLayout {
    /** pairs (x[2i], x[2i+1]): llama.cpp's rope type NORM. */
    INTERLEAVED,
    /** pairs (x[i], x[i + d/2]): "rotate_half", llama.cpp's rope type NEOX. */
    HALF_SPLIT
}
