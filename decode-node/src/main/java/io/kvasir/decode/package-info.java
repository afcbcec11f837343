/**
 * The decode node: the continuous-batching step loop ({@link io.kvasir.decode.DecodeEngine}) with its
 * local tier and fair queue, its gRPC service and its heartbeat.
 */
package io.kvasir.decode;
