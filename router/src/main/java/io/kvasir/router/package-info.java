/**
 * The router: the public gRPC API ({@link io.kvasir.router.GenerationGrpcService}), the
 * OpenAI-compatible HTTP API on top of it ({@link io.kvasir.router.OpenAiHttpApi}), placement
 * ({@link io.kvasir.router.KvAwarePlacement}), tenants and their limits, metrics.
 */
package io.kvasir.router;
