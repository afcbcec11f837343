package io.kvasir.router;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.kv.store.NodeHeartbeat;

/**
 * What decode nodes last said about themselves (sequences running or waiting, free KV blocks),
 * refreshed from their heartbeats every second: the load every router puts on them, where a
 * router's own in-flight count sees only its share.
 */
public final class NodeLoads implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NodeLoads.class.getName());

    /** A node's last heartbeat figures. */
    public record Load(String address, int running, int waiting, long freeBlocks, long totalBlocks) {
        /** Sequences running or waiting. */
        public int sequences() {
            return running + waiting;
        }
    }

    private final KvStoreClient store;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("node-loads").factory());
    private volatile Map<String, Load> loads = Map.of();
    private volatile Consumer<Map<String, Load>> onRefresh;

    public NodeLoads(KvStoreClient store) {
        this.store = store;
        timer.scheduleWithFixedDelay(this::refresh, 0, 1, TimeUnit.SECONDS);
    }

    /** The node's last reported load, or null if it has not announced itself (or its heartbeat expired). */
    public Load of(String nodeId) {
        return loads.get(nodeId);
    }

    /** Every node's last report, by node id. */
    public Map<String, Load> all() {
        return loads;
    }

    /** Called with every node's report after each refresh (on the refresh thread). */
    void onRefresh(Consumer<Map<String, Load>> listener) {
        this.onRefresh = listener;
    }

    public synchronized void refresh() {
        try {
            Map<String, Load> now = new HashMap<>();
            for (NodeHeartbeat h : store.nodes()) {
                if (h.role().equals("decode")) {
                    now.put(h.nodeId(), new Load(h.address(), h.running(), h.waiting(), h.freeBlocks(), h.totalBlocks()));
                }
            }
            loads = Map.copyOf(now);
            Consumer<Map<String, Load>> listener = onRefresh;
            if (listener != null) {
                listener.accept(loads);
            }
        } catch (KvStoreException | RuntimeException e) {
            LOG.log(Level.FINE, "could not read node heartbeats", e);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
