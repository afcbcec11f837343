package io.kvasir.decode;

import java.util.List;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.kv.store.NodeHeartbeat;

/** What a decode node runs sequences on: the engine loop on the CPU ({@link DecodeEngine}) or a GPU ({@link CudaDecodeEngine}). */
public interface Decoder extends AutoCloseable {
    /**
     * Queues a request; tokens go to {@code listener} as they are chosen.
     *
     * @throws IllegalArgumentException bad input (the caller's INVALID_ARGUMENT)
     * @throws IllegalStateException    the engine is closed
     */
    EngineLoop.Handle submit(EngineLoop.Request request, EngineLoop.Listener listener);

    /** Sequences in the running batch. */
    int running();

    /** Sequences waiting for room. */
    int waiting();

    /** KV blocks not reserved by a sequence. */
    long freeBlocks();

    long totalBlocks();

    /** Blocks of its local tier, for its heartbeat. */
    List<NodeHeartbeat.Resident> resident();

    /** Its metrics in Prometheus' text format. */
    String metricsText(String modelName);

    @Override
    void close();
}
