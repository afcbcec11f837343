/**
 * The decode node: the engine loop wired to a host pool with its local tier
 * ({@link io.kvasir.decode.DecodeEngine}) or to a GPU ({@link io.kvasir.decode.CudaDecodeEngine}),
 * its gRPC service and its heartbeat.
 */
package io.kvasir.decode;
