package io.kvasir.kv.store;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.EntryListener;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.MapEvent;
import com.hazelcast.replicatedmap.ReplicatedMap;

import io.kvasir.kv.block.BlockKey;

/**
 * Which nodes hold which blocks, from their heartbeats. Heartbeats live in a replicated map (every
 * member has all of them, reads are local); the block → nodes view is rebuilt lazily after any
 * heartbeat changes, so a lookup costs a hash probe per key.
 */
public final class NodeDirectory {
    /** Name of the replicated map of heartbeats, keyed by node id. */
    public static final String HEARTBEATS = "kv-nodes";

    private final ReplicatedMap<String, NodeHeartbeat> heartbeats;
    private volatile Map<NodeHeartbeat.Resident, List<String>> holders;

    NodeDirectory(HazelcastInstance hz) {
        heartbeats = hz.getReplicatedMap(HEARTBEATS);
        heartbeats.addEntryListener(new EntryListener<>() {
            @Override
            public void entryAdded(EntryEvent<String, NodeHeartbeat> event) {
                holders = null;
            }

            @Override
            public void entryUpdated(EntryEvent<String, NodeHeartbeat> event) {
                holders = null;
            }

            @Override
            public void entryRemoved(EntryEvent<String, NodeHeartbeat> event) {
                holders = null;
            }

            @Override
            public void entryEvicted(EntryEvent<String, NodeHeartbeat> event) {
                holders = null;
            }

            @Override
            public void entryExpired(EntryEvent<String, NodeHeartbeat> event) {
                holders = null;
            }

            @Override
            public void mapCleared(MapEvent event) {
                holders = null;
            }

            @Override
            public void mapEvicted(MapEvent event) {
                holders = null;
            }
        });
    }

    /** Publishes a node's heartbeat for {@code ttlSeconds}. */
    void announce(NodeHeartbeat heartbeat, long ttlSeconds) {
        heartbeats.put(heartbeat.nodeId(), heartbeat, ttlSeconds, TimeUnit.SECONDS);
    }

    void withdraw(String nodeId) {
        heartbeats.remove(nodeId);
    }

    /** The live nodes' heartbeats. */
    List<NodeHeartbeat> all() {
        return new ArrayList<>(heartbeats.values());
    }

    /** Nodes whose local tier holds the tenant's block, in no particular order. */
    public List<String> holders(String tenant, BlockKey key) {
        Map<NodeHeartbeat.Resident, List<String>> view = holders;
        if (view == null) {
            view = rebuild();
        }
        return view.getOrDefault(new NodeHeartbeat.Resident(tenant, key), List.of());
    }

    private Map<NodeHeartbeat.Resident, List<String>> rebuild() {
        Map<NodeHeartbeat.Resident, List<String>> view = new HashMap<>();
        for (NodeHeartbeat hb : heartbeats.values()) {
            for (NodeHeartbeat.Resident r : hb.resident()) {
                view.computeIfAbsent(r, k -> new ArrayList<>(2)).add(hb.nodeId());
            }
        }
        holders = view;
        return view;
    }
}
