/**
 * The prefill node: computes what the store lacks of a prompt, stores its full blocks, returns the
 * first token ({@link io.kvasir.prefill.PrefillEngine}, behind {@link io.kvasir.prefill.PrefillGrpcService}).
 */
package io.kvasir.prefill;
