package io.kvasir.router;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

import io.grpc.ManagedChannel;

/**
 * The decode nodes a router sends to, by the ids they announce themselves with (their addresses),
 * and how busy each is (calls in flight from this router). Either a fixed list ({@code --decode})
 * or discovered: every decode node whose heartbeat is live in the KV store (how a Kubernetes
 * Deployment's pods, whose addresses nobody knows in advance, are found); a node whose heartbeat
 * has been missing for {@value #GRACE_SECONDS} s stops getting new requests, and its calls in
 * flight finish on their channel. The grace rides out a store member leaving (heartbeats are read
 * through it) and a late heartbeat; a node that is really gone fails fast and the request moves on.
 */
public final class DecodeRoutes implements AutoCloseable {
    static final int GRACE_SECONDS = 15;

    /** One decode node: its channel and this router's calls in flight to it. */
    public static final class Route {
        private final String id;
        private final ManagedChannel channel;
        private final AtomicInteger inFlight = new AtomicInteger();
        private volatile long lastSeenNanos = System.nanoTime();

        Route(String id, ManagedChannel channel) {
            this.id = id;
            this.channel = channel;
        }

        public String id() {
            return id;
        }

        ManagedChannel channel() {
            return channel;
        }
    }

    /** How a router picks a decode node. */
    public enum Routing {
        /** The node holding the longest run of the prompt's blocks in its pool, else the least busy. */
        KV_AWARE,
        /** Each node in turn, whatever it holds (a plain load balancer in front of replicas). */
        ROUND_ROBIN;

        /** From its flag value: {@code kv-aware} or {@code round-robin}. */
        public static Routing parse(String value) {
            return switch (value) {
                case "kv-aware" -> KV_AWARE;
                case "round-robin" -> ROUND_ROBIN;
                default -> throw new IllegalArgumentException("--routing must be kv-aware or round-robin, got '"
                        + value + "'");
            };
        }

        /** Its flag value, as {@link #parse} reads it. */
        public String flag() {
            return this == KV_AWARE ? "kv-aware" : "round-robin";
        }
    }

    private final Map<String, Route> routes = new ConcurrentHashMap<>();
    private final AtomicInteger turn = new AtomicInteger();
    private volatile Routing routing = Routing.KV_AWARE;
    private final NodeLoads loads;
    private final Function<String, ManagedChannel> dial;

    public DecodeRoutes(List<ManagedChannel> nodes, List<String> ids) {
        this(nodes, ids, null);
    }

    /** @param loads the nodes' own reports (all routers' load, free KV), or null to count only this router's calls */
    public DecodeRoutes(List<ManagedChannel> nodes, List<String> ids, NodeLoads loads) {
        if (nodes.isEmpty() || nodes.size() != ids.size()) {
            throw new IllegalArgumentException("a router needs at least one decode node, each with an id");
        }
        Map<String, Route> fixed = new LinkedHashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            fixed.put(ids.get(i), new Route(ids.get(i), nodes.get(i)));
        }
        this.routes.putAll(fixed);
        this.loads = loads;
        this.dial = null;
    }

    private DecodeRoutes(NodeLoads loads, Function<String, ManagedChannel> dial) {
        this.loads = loads;
        this.dial = dial;
    }

    /**
     * Decode nodes found by their heartbeats (each announces the address routers dial), re-read
     * whenever {@code loads} refreshes; {@code dial} opens a channel to an address.
     */
    public static DecodeRoutes discovered(NodeLoads loads, Function<String, ManagedChannel> dial) {
        DecodeRoutes routes = new DecodeRoutes(loads, dial);
        routes.sync(loads.all());
        loads.onRefresh(routes::sync);
        return routes;
    }

    /** Adds nodes that announced themselves, drops those whose heartbeat has been missing past the grace. */
    private synchronized void sync(Map<String, NodeLoads.Load> live) {
        long now = System.nanoTime();
        for (var e : live.entrySet()) {
            routes.computeIfAbsent(e.getKey(), id -> new Route(id, dial.apply(e.getValue().address()))).lastSeenNanos = now;
        }
        for (Route gone : routes.values()) {
            if (!live.containsKey(gone.id()) && now - gone.lastSeenNanos > GRACE_SECONDS * 1_000_000_000L) {
                routes.remove(gone.id());
                gone.channel().shutdown(); // calls in flight finish; no new ones
            }
        }
    }

    /** Routes by {@code routing} from now on. */
    public DecodeRoutes routing(Routing routing) {
        this.routing = routing;
        return this;
    }

    /**
     * Round-robin: the next node in turn not in {@code avoid}. KV-aware: the node with id
     * {@code preferred} unless tried already, else the least busy not in {@code avoid}. Null if none.
     */
    Route pick(Collection<String> avoid, String preferred) {
        if (routing == Routing.ROUND_ROBIN) {
            List<Route> order = routes.values().stream().sorted(java.util.Comparator.comparing(Route::id)).toList();
            int first = turn.getAndIncrement();
            for (int k = 0; k < order.size(); k++) {
                Route r = order.get(Math.floorMod(first + k, order.size()));
                if (!avoid.contains(r.id())) {
                    return r;
                }
            }
            return null;
        }
        Route wanted = preferred == null ? null : routes.get(preferred);
        if (wanted != null && !avoid.contains(wanted.id())) {
            return wanted;
        }
        Route best = null;
        for (Route r : routes.values()) {
            if (!avoid.contains(r.id()) && (best == null || lessBusy(r, best))) {
                best = r;
            }
        }
        return best;
    }

    /**
     * Fewer calls in flight from this router (exact, current), then fewer sequences by the node's
     * own last report (every router's work, but up to a few seconds old), then more free KV blocks.
     */
    private boolean lessBusy(Route a, Route b) {
        if (a.inFlight.get() != b.inFlight.get()) {
            return a.inFlight.get() < b.inFlight.get();
        }
        NodeLoads.Load la = loads == null ? null : loads.of(a.id());
        NodeLoads.Load lb = loads == null ? null : loads.of(b.id());
        if (la == null || lb == null) {
            return false;
        }
        if (la.sequences() != lb.sequences()) {
            return la.sequences() < lb.sequences();
        }
        return la.freeBlocks() > lb.freeBlocks();
    }

    void started(Route node) {
        node.inFlight.incrementAndGet();
    }

    void ended(Route node) {
        node.inFlight.decrementAndGet();
    }

    /** Nodes known now. */
    public int size() {
        return routes.size();
    }

    /** Closes the channels this router opened to discovered nodes (a fixed list's are the caller's). */
    @Override
    public synchronized void close() {
        if (dial != null) {
            routes.values().forEach(r -> r.channel().shutdownNow());
            routes.clear();
        }
    }
}
