package io.kvasir.testing;

import java.util.List;
import java.util.UUID;

import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.store.KvStoreMember;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.tls.Ports;

/** A one-member KV store on a free port, in a cluster of its own, with a client connected to it. */
public final class LocalStore implements AutoCloseable {
    private final KvStoreMember member;
    private final KvStoreClient client;

    private LocalStore(KvStoreMember member, KvStoreClient client) {
        this.member = member;
        this.client = client;
    }

    public static LocalStore start() {
        int port = freePort();
        String cluster = "test-" + UUID.randomUUID();
        KvStoreMember member = KvStoreMember.start(StoreConfig.local().withCluster(cluster).withPorts(port, 0)
                .withPeers(List.of("127.0.0.1:" + port)).withBackupCount(0));
        return new LocalStore(member, KvStoreClient.connect(List.of(member.grpcAddress())));
    }

    public KvStoreMember member() {
        return member;
    }

    public KvStoreClient client() {
        return client;
    }

    /** A port nothing listens on now ({@link Ports#free}). */
    public static int freePort() {
        return Ports.free();
    }

    @Override
    public void close() {
        client.close();
        member.kill();
    }
}
