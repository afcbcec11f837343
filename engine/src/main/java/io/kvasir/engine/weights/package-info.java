/**
 * Checkpoint files, memory-mapped through the FFM API and never copied onto the heap:
 * {@link io.kvasir.engine.weights.GgufFile} and {@link io.kvasir.engine.weights.SafetensorsFolder}
 * both describe tensors as {@link io.kvasir.engine.weights.TensorInfo}s (row-major shape, a slice of
 * the mapping). Format-specific type ids stay in this package.
 */
package io.kvasir.engine.weights;
