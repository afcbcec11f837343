package io.kvasir.router;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;

import io.grpc.ManagedChannel;

/**
 * The decode nodes a router sends to, by the ids they announce themselves with (their addresses),
 * and how busy each is (calls in flight from this router).
 */
public final class DecodeRoutes {
    private final List<ManagedChannel> nodes;
    private final List<String> ids;
    private final AtomicIntegerArray inFlight;
    private final NodeLoads loads;

    public DecodeRoutes(List<ManagedChannel> nodes, List<String> ids) {
        this(nodes, ids, null);
    }

    /** @param loads the nodes' own reports (all routers' load, free KV), or null to count only this router's calls */
    public DecodeRoutes(List<ManagedChannel> nodes, List<String> ids, NodeLoads loads) {
        if (nodes.isEmpty() || nodes.size() != ids.size()) {
            throw new IllegalArgumentException("a router needs at least one decode node, each with an id");
        }
        this.nodes = new ArrayList<>(nodes);
        this.ids = List.copyOf(ids);
        this.inFlight = new AtomicIntegerArray(nodes.size());
        this.loads = loads;
    }

    /** The node with id {@code preferred} unless tried already, else the least busy not in {@code avoid}; -1 if none. */
    int pick(List<Integer> avoid, String preferred) {
        int wanted = preferred == null ? -1 : ids.indexOf(preferred);
        if (wanted >= 0 && !avoid.contains(wanted)) {
            return wanted;
        }
        int best = -1;
        for (int i = 0; i < nodes.size(); i++) {
            if (!avoid.contains(i) && (best < 0 || lessBusy(i, best))) {
                best = i;
            }
        }
        return best;
    }

    /**
     * Fewer calls in flight from this router (exact, current), then fewer sequences by the node's
     * own last report (every router's work, but up to a few seconds old), then more free KV blocks.
     */
    private boolean lessBusy(int a, int b) {
        if (inFlight.get(a) != inFlight.get(b)) {
            return inFlight.get(a) < inFlight.get(b);
        }
        NodeLoads.Load la = loads == null ? null : loads.of(ids.get(a));
        NodeLoads.Load lb = loads == null ? null : loads.of(ids.get(b));
        if (la == null || lb == null) {
            return false;
        }
        if (la.sequences() != lb.sequences()) {
            return la.sequences() < lb.sequences();
        }
        return la.freeBlocks() > lb.freeBlocks();
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
