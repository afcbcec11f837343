/**
 * The primitives the forward pass runs on ({@link io.kvasir.engine.backend.Backend}). The scalar
 * {@code reference} backend defines correct; {@code cpu} (Vector API) is tested against it.
 */
package io.kvasir.engine.backend;
