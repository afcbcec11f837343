package io.kvasir.decode;

import java.util.List;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.kv.store.NodeHeartbeat;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** What a decode node runs sequences on: the engine loop on the CPU ({@link DecodeEngine}) or a GPU ({@link CudaDecodeEngine}). */
public interface Decoder extends AutoCloseable {
    /** The engine loop the node's sequences run in. */
    EngineLoop<?> loop();

    /**
     * Queues a request; tokens go to {@code listener} as they are chosen.
     *
     * @throws IllegalArgumentException bad input (the caller's INVALID_ARGUMENT)
     * @throws IllegalStateException    the engine is closed
     */
    default EngineLoop.Handle submit(EngineLoop.Request request, EngineLoop.Listener listener) {
        return loop().submit(request, listener);
    }

    /** Sequences in the running batch. */
    default int running() {
        return loop().running();
    }

    /** Sequences waiting for room. */
    default int waiting() {
        return loop().waiting();
    }

    /** KV blocks not reserved by a sequence. */
    default long freeBlocks() {
        return loop().blocks().freeBlocks();
    }

    default long totalBlocks() {
        return loop().blocks().totalBlocks();
    }

    /** Blocks of its local tier, for its heartbeat. */
    List<NodeHeartbeat.Resident> resident();

    /** Adds its metrics, labelled with {@code modelName}, to the node's registry. */
    void registerMetrics(PrometheusRegistry registry, String modelName);

    @Override
    void close();
}
