package io.kvasir.decode;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.kv.store.NodeHeartbeat;

/**
 * Publishes a decode node's heartbeat every {@value #PERIOD_SECONDS} s (TTL {@value #TTL_SECONDS} s):
 * its address (the id routers know it by), free KV blocks, load, and the blocks its local tier
 * holds, which the store's lookups report and routers use to send a prompt where its KV already is.
 */
public final class DecodeAnnouncer implements AutoCloseable {
    static final long PERIOD_SECONDS = 2;
    static final long TTL_SECONDS = 10;
    private static final Logger LOG = Logger.getLogger(DecodeAnnouncer.class.getName());

    private final KvStoreClient store;
    private final String nodeId;
    private final Decoder engine;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("decode-heartbeat").factory());

    public DecodeAnnouncer(KvStoreClient store, String nodeId, Decoder engine) {
        this.store = store;
        this.nodeId = nodeId;
        this.engine = engine;
        timer.scheduleWithFixedDelay(this::announceQuietly, 0, PERIOD_SECONDS, TimeUnit.SECONDS);
    }

    /** Publishes now (also done every few seconds). */
    public void announce() throws KvStoreException {
        store.announce(new NodeHeartbeat(nodeId, "decode", nodeId, engine.freeBlocks(), engine.totalBlocks(),
                engine.running(), engine.waiting(), engine.resident()), TTL_SECONDS);
    }

    private void announceQuietly() {
        try {
            announce();
        } catch (KvStoreException | RuntimeException e) {
            LOG.log(Level.FINE, "heartbeat failed; retrying", e);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            store.withdraw(nodeId);
        } catch (KvStoreException | RuntimeException e) {
            LOG.log(Level.FINE, "could not withdraw the heartbeat", e);
        }
    }
}
