package io.kvasir.kv.client;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.store.NodeHeartbeat;

/**
 * A prefill or decode node's own tier: recent blocks in this process's memory (the GPU issue adds
 * device memory), bounded by bytes, least recently used out first, in front of the store. The node
 * announces what it holds every {@link #ANNOUNCE_SECONDS} seconds in its heartbeat, so lookups and
 * the router see it; a heartbeat lives {@link #TTL_SECONDS} seconds, so a dead node's claims vanish.
 */
public final class NodeBlockCache implements AutoCloseable {
    public static final long ANNOUNCE_SECONDS = 2;
    public static final long TTL_SECONDS = 10;
    private static final Logger LOG = Logger.getLogger(NodeBlockCache.class.getName());

    private record Entry(String tenant, ByteBuffer payload) {
    }

    private final KvStoreClient store;
    private final String nodeId;
    private final String role;
    private final String address;
    private final long budgetBytes;
    private final LinkedHashMap<BlockKey, Entry> entries = new LinkedHashMap<>(256, 0.75f, true);
    private final ScheduledExecutorService announcer;
    private long usedBytes;

    public NodeBlockCache(KvStoreClient store, String nodeId, String role, String address, long budgetBytes) {
        this.store = store;
        this.nodeId = nodeId;
        this.role = role;
        this.address = address;
        this.budgetBytes = budgetBytes;
        this.announcer = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon()
                .name("kv-announce-" + nodeId).factory());
        announcer.scheduleWithFixedDelay(this::announceQuietly, 0, ANNOUNCE_SECONDS, TimeUnit.SECONDS);
    }

    /** Blocks from the local tier where present, the rest from the store (and kept locally). */
    public List<ByteBuffer> get(String tenant, List<BlockKey> keys) throws KvStoreException {
        List<ByteBuffer> out = new ArrayList<>(keys.size());
        List<BlockKey> missing = new ArrayList<>();
        List<Integer> missingAt = new ArrayList<>();
        synchronized (this) {
            for (int i = 0; i < keys.size(); i++) {
                Entry e = entries.get(keys.get(i));
                boolean hit = e != null && e.tenant().equals(tenant);
                out.add(hit ? e.payload().duplicate() : null);
                if (!hit) {
                    missing.add(keys.get(i));
                    missingAt.add(i);
                }
            }
        }
        if (!missing.isEmpty()) {
            List<ByteBuffer> fetched = store.get(tenant, missing);
            for (int j = 0; j < missing.size(); j++) {
                ByteBuffer b = fetched.get(j);
                if (b != null) {
                    out.set(missingAt.get(j), b);
                    keep(tenant, missing.get(j), b);
                }
            }
        }
        return out;
    }

    /** Keeps blocks locally and writes them to the store. */
    public void put(String tenant, List<BlockKey> keys, List<byte[]> payloads) throws KvStoreException {
        for (int i = 0; i < keys.size(); i++) {
            keep(tenant, keys.get(i), ByteBuffer.wrap(payloads.get(i)));
        }
        store.put(tenant, keys, payloads);
    }

    public synchronized boolean holds(BlockKey key) {
        return entries.containsKey(key);
    }

    public synchronized long usedBytes() {
        return usedBytes;
    }

    public synchronized int blocks() {
        return entries.size();
    }

    /** Publishes the heartbeat now (it is also published every few seconds). */
    public void announce() {
        List<NodeHeartbeat.Resident> resident = new ArrayList<>();
        synchronized (this) {
            entries.forEach((k, e) -> resident.add(new NodeHeartbeat.Resident(e.tenant(), k)));
        }
        store.announce(new NodeHeartbeat(nodeId, role, address, 0, 0, 0, 0, resident), TTL_SECONDS);
    }

    private void announceQuietly() {
        try {
            announce();
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "heartbeat of " + nodeId + " failed; retrying", e);
        }
    }

    private synchronized void keep(String tenant, BlockKey key, ByteBuffer payload) {
        if (payload.remaining() > budgetBytes) {
            return;
        }
        Entry old = entries.put(key, new Entry(tenant, payload.asReadOnlyBuffer()));
        usedBytes += payload.remaining() - (old == null ? 0 : old.payload().remaining());
        Iterator<Map.Entry<BlockKey, Entry>> it = entries.entrySet().iterator();
        while (usedBytes > budgetBytes && it.hasNext()) {
            usedBytes -= it.next().getValue().payload().remaining();
            it.remove();
        }
    }

    @Override
    public void close() {
        announcer.shutdownNow();
        try {
            store.withdraw(nodeId);
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "could not withdraw heartbeat of " + nodeId, e);
        }
    }
}
