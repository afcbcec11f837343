package io.kvasir.router;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;

import io.grpc.ManagedChannel;

/**
 * The decode nodes a router sends to, and how busy each is (calls in flight from this router).
 * Picks the least busy; KV-aware placement (the node whose tier already holds the prefix) is next.
 */
public final class DecodeRoutes {
    private final List<ManagedChannel> nodes;
    private final AtomicIntegerArray inFlight;

    public DecodeRoutes(List<ManagedChannel> nodes) {
        if (nodes.isEmpty()) {
            throw new IllegalArgumentException("a router needs at least one decode node");
        }
        this.nodes = new ArrayList<>(nodes);
        this.inFlight = new AtomicIntegerArray(nodes.size());
    }

    /** The least busy node not in {@code avoid} (indices), or -1. */
    int pick(List<Integer> avoid) {
        int best = -1;
        for (int i = 0; i < nodes.size(); i++) {
            if (!avoid.contains(i) && (best < 0 || inFlight.get(i) < inFlight.get(best))) {
                best = i;
            }
        }
        return best;
    }

    ManagedChannel channel(int node) {
        return nodes.get(node);
    }

    void started(int node) {
        inFlight.incrementAndGet(node);
    }

    void ended(int node) {
        inFlight.decrementAndGet(node);
    }

    int size() {
        return nodes.size();
    }
}
