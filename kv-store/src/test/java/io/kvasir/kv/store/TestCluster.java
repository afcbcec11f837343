package io.kvasir.kv.store;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.UnaryOperator;

import io.kvasir.kv.client.KvStoreClient;

/** Real kv-store members on loopback, in this JVM, in a cluster of their own. */
public final class TestCluster implements AutoCloseable {
    public static final int BASE_PORT = 5801;

    private final String name = "kvasir-test-" + UUID.randomUUID();
    private final List<KvStoreMember> members = new ArrayList<>();
    private final List<KvStoreClient> clients = new ArrayList<>();
    private final UnaryOperator<StoreConfig> tweak;

    public TestCluster(int size, UnaryOperator<StoreConfig> tweak) {
        this.tweak = tweak;
        for (int i = 0; i < size; i++) {
            startMember((String) null);
        }
    }

    public StoreConfig config(String memberName) {
        StoreConfig base = StoreConfig.local().withCluster(name).withPorts(BASE_PORT, 0)
                .withPeers(addresses());
        if (memberName != null) {
            base = base.withMemberName(memberName);
        }
        return tweak.apply(base);
    }

    /** Where members may be: Hazelcast moves past ports in use (other tests, other clusters). */
    static List<String> addresses() {
        List<String> out = new ArrayList<>();
        for (int p = BASE_PORT; p < BASE_PORT + 10; p++) {
            out.add("127.0.0.1:" + p);
        }
        return out;
    }

    public KvStoreMember startMember(String memberName) {
        return startMember(config(memberName));
    }

    /** A member of this cluster with a configuration of its own (from {@link #config}). */
    public KvStoreMember startMember(StoreConfig config) {
        KvStoreMember m = KvStoreMember.start(config);
        members.add(m);
        return m;
    }

    public List<KvStoreMember> members() {
        return members;
    }

    public KvStoreMember member(int i) {
        return members.get(i);
    }

    public KvStoreClient client() {
        KvStoreClient c = KvStoreClient.connect(members.stream().map(KvStoreMember::grpcAddress).toList());
        clients.add(c);
        return c;
    }

    public void remove(KvStoreMember m) {
        members.remove(m);
    }

    @Override
    public void close() {
        clients.forEach(KvStoreClient::close);
        for (KvStoreMember m : members) {
            m.kill(); // fastest way down; nothing to hand over at the end of a test
        }
    }
}
