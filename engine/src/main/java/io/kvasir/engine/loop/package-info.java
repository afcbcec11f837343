/**
 * The engine loop every role runs: {@link io.kvasir.engine.loop.EngineLoop} schedules, runs and
 * retires sequences; where their KV lives is a {@link io.kvasir.engine.loop.BlockManager} (a host
 * pool, a device pool) and how tokens are computed a {@link io.kvasir.engine.loop.ForwardPass}
 * (CPU, CUDA). Decode nodes, prefill nodes and {@code serve} wire the same loop to different parts.
 */
package io.kvasir.engine.loop;
