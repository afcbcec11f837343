package io.kvasir.kv.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import javax.net.ssl.SSLContext;

import com.hazelcast.cluster.Member;
import com.hazelcast.config.Config;
import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.InMemoryFormat;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import com.hazelcast.map.listener.EntryEvictedListener;
import com.hazelcast.query.Predicates;

import io.grpc.Server;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.tls.Role;
import io.kvasir.tls.RoleAuthorization;
import io.kvasir.tls.GrpcTransport;
import io.kvasir.tls.Tls;

/**
 * One kv-store member: a Hazelcast data member (host tier and index), this machine's SSD tier, and
 * the gRPC data plane in front of them. {@link #close()} leaves gracefully (Hazelcast hands its
 * partitions over first); {@link #kill()} is a crash, for tests.
 */
public final class KvStoreMember implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(KvStoreMember.class.getName());
    /** Hazelcast narrates every join and migration at INFO; keep its warnings only (held: JUL keeps loggers weakly). */
    static final Logger HAZELCAST_LOG = quietHazelcast();

    static Logger quietHazelcast() {
        Logger l = Logger.getLogger("com.hazelcast");
        if (System.getProperty("kvasir.hazelcast.verbose") == null) {
            l.setLevel(Level.WARNING);
        }
        return l;
    }

    private final HazelcastInstance hz;
    private final BlockStore store;
    private final KvStoreService service;
    private final Server server;
    private final HealthStatusManager health = new HealthStatusManager();
    private final ExecutorService spills = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("kv-spill")
            .daemon().factory());
    private final SsdTier ssd;
    private final String grpcAddress;
    private final SharedArena shared;
    private volatile BlockStore storeForSsd;
    private final IndexSweep sweep;
    private final CopyReceiver copies;
    private final BlockReplication replication;

    private KvStoreMember(StoreConfig config, Tls tls) throws IOException {
        // copies from other members (whose addresses are known only once Hazelcast runs); bound before
        // a free gRPC port is looked for, which must not be the one this takes
        BlockCopies held = new BlockCopies(config.hostBudgetBytes() * Math.max(1, config.backupCount()));
        HazelcastInstance[] cluster = new HazelcastInstance[1];
        SSLContext peers = tls == null ? null : peerContext(tls);
        copies = new CopyReceiver(new InetSocketAddress(config.host(), config.replicationPort()), peers,
                address -> cluster[0] != null && isMember(cluster[0], address), held, config.maxBlockBytes());
        int grpcPort = config.grpcPort() != 0 ? config.grpcPort() : freePort(config.host());
        grpcAddress = config.host() + ":" + grpcPort;
        String name = config.memberName() != null ? config.memberName() : grpcAddress;
        ssd = config.ssdDir() == null ? null : new SsdTier(config.ssdDir(), config.ssdBudgetBytes(),
                (key, tenant, bytes) -> {
                    BlockStore s = storeForSsd;
                    if (s != null) {
                        s.spills().leftSsd(key, tenant, bytes);
                    }
                });
        Config hzConfig = hazelcastConfig(config, name, grpcAddress);
        hzConfig.getMemberAttributeConfig().setAttribute(BlockReplication.ATTRIBUTE,
                advertised(config.host()) + ":" + copies.port());
        // a quarter of the host budget: the recent blocks readers on this host are likeliest to ask for
        shared = SharedArena.create(config.hostBudgetBytes() / 4);
        if (shared != null) {
            hzConfig.getMemberAttributeConfig().setAttribute(SharedArena.ATTRIBUTE, shared.attribute());
        }
        hz = Hazelcast.newHazelcastInstance(hzConfig);
        cluster[0] = hz;
        if (ssd != null) {
            hz.getUserContext().put(ReadOnMemberTask.SSD_CONTEXT_KEY, ssd);
        }
        replication = new BlockReplication(hz, name, config.backupCount(), held, new CopySender(peers));
        store = new BlockStore(hz, name, ssd, config, shared, replication);
        sweep = new IndexSweep(store);
        storeForSsd = store;
        IMap<String, StoredBlock> blocks = hz.getMap(BlockStore.BLOCKS);
        blocks.addLocalEntryListener((EntryEvictedListener<String, StoredBlock>) event -> {
            StoredBlock evicted = event.getOldValue() != null ? event.getOldValue() : event.getValue();
            store.spills().evicted(event.getKey(), evicted);
            spills.execute(() -> store.spills().spill(event.getKey()));
        }, Predicates.alwaysTrue(), true);
        if (ssd != null) {
            store.spills().announceSsd(ssd.rebuild());
        }
        service = new KvStoreService(store, shared);
        // only decode nodes publish heartbeats, and only routers (and members) read them: a forged
        // heartbeat would draw prompts, and heartbeats list every node's cached blocks
        RoleAuthorization callers = new RoleAuthorization()
                .allow(KvStoreGrpc.SERVICE_NAME, Role.ROUTER, Role.PREFILL, Role.DECODE, Role.KV_STORE)
                .allow(KvStoreGrpc.getAnnounceMethod().getFullMethodName(), Role.DECODE)
                .allow(KvStoreGrpc.getNodesMethod().getFullMethodName(), Role.ROUTER, Role.KV_STORE);
        server = GrpcTransport.internalServer(new InetSocketAddress(config.host(), grpcPort), tls, callers)
                .addService(service.definition())
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                // blocks are ~0.5-2 MiB: one message each, with room for the envelope
                .maxInboundMessageSize(config.maxBlockBytes() + (1 << 20))
                // a wide window keeps loopback/LAN links busy while the reader drains (default 1 MiB)
                .flowControlWindow(32 << 20)
                .build()
                .start();
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(KvStoreGrpc.SERVICE_NAME, ServingStatus.SERVING);
        LOG.info(() -> "kv-store member " + name + " serving gRPC on " + grpcAddress + ", Hazelcast on "
                + hz.getCluster().getLocalMember().getAddress());
    }

    public static KvStoreMember start(StoreConfig config) {
        return start(config, null);
    }

    /**
     * A member whose gRPC data plane takes only mutual-TLS calls from routers, nodes and other
     * members when {@code tls} is given (null: plaintext).
     */
    public static KvStoreMember start(StoreConfig config, Tls tls) {
        try {
            return new KvStoreMember(config, tls);
        } catch (IOException e) {
            throw new UncheckedIOException("kv-store member could not start: " + e.getMessage(), e);
        }
    }

    static Config hazelcastConfig(StoreConfig config, String name, String grpcAddress) {
        Config c = new Config();
        c.setClusterName(config.clusterName());
        c.setInstanceName("kvasir-kv-" + name);
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.logging.type", "jdk");
        c.setProperty("hazelcast.shutdownhook.policy", "GRACEFUL");
        // a crashed member is declared dead after 10 s without heartbeats (Hazelcast's default is 60)
        c.setProperty("hazelcast.heartbeat.interval.seconds", "1");
        c.setProperty("hazelcast.max.no.heartbeat.seconds", "10");
        // wait 1 s for peers to answer a join (Hazelcast waits 5): at 0, a member whose first connection
        // takes a moment (containers: DNS, then TCP) gives up at once and forms a cluster of its own
        c.setProperty("hazelcast.wait.seconds.before.join", "1");
        // members that started at once may each form a cluster of one (a peer's name did not resolve
        // yet, a pod was not in DNS yet): look for the others and merge after 10 s, not Hazelcast's 300
        c.setProperty("hazelcast.merge.first.run.delay.seconds", "10");
        c.setProperty("hazelcast.merge.next.run.delay.seconds", "10");
        c.getMemberAttributeConfig().setAttribute(BlockStore.NAME_ATTRIBUTE, name);
        c.getMemberAttributeConfig().setAttribute(BlockStore.GRPC_ATTRIBUTE, grpcAddress);
        var network = c.getNetworkConfig();
        network.setPort(config.hazelcastPort()).setPortAutoIncrement(true).setPortCount(100);
        if (!config.host().equals("0.0.0.0")) {
            network.getInterfaces().setEnabled(true).addInterface(config.host());
        }
        JoinConfig join = network.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        if (config.kubernetesDns() != null) {
            join.getKubernetesConfig().setEnabled(true).setProperty("service-dns", config.kubernetesDns());
        } else {
            List<String> members = new ArrayList<>();
            config.peers().forEach(p -> members.add(resolved(p)));
            members.add(config.host() + ":" + config.hazelcastPort());
            join.getTcpIpConfig().setEnabled(true).setMembers(members);
        }
        // host tier: serialized once (BINARY), least recently used out first when this member's share
        // passes the budget (Hazelcast samples entries: approximate LRU); no Hazelcast backups, the
        // store copies blocks to other members itself (BlockReplication)
        int budgetMb = (int) Math.max(1, config.hostBudgetBytes() >> 20);
        c.addMapConfig(new MapConfig(BlockStore.BLOCKS)
                .setInMemoryFormat(InMemoryFormat.BINARY)
                .setBackupCount(0)
                .setEvictionConfig(new EvictionConfig()
                        .setEvictionPolicy(EvictionPolicy.LRU)
                        .setMaxSizePolicy(MaxSizePolicy.USED_HEAP_SIZE)
                        .setSize(budgetMb)));
        c.addMapConfig(new MapConfig(BlockStore.INDEX)
                .setInMemoryFormat(InMemoryFormat.BINARY)
                .setBackupCount(config.backupCount()));
        c.getExecutorConfig(BlockStore.READS).setPoolSize(4);
        KvSerialization.register(c.getSerializationConfig());
        return c;
    }

    public String grpcAddress() {
        return grpcAddress;
    }

    public String name() {
        return store.memberName();
    }

    public BlockStore store() {
        return store;
    }

    public SsdTier ssd() {
        return ssd;
    }

    public HazelcastInstance hazelcast() {
        return hz;
    }

    /** This member's shared-memory arena, or null. */
    SharedArena sharedArena() {
        return shared;
    }

    /** The copies this member holds of other members' blocks. */
    BlockCopies replicationCopies() {
        return replication.copies();
    }

    /** Index sweeps after departures this member has run (tests wait on them). */
    int indexSweeps() {
        return sweep.sweeps();
    }

    /** Stops serving, hands partitions over, leaves the cluster. */
    @Override
    public void close() {
        health.enterTerminalState();
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        service.shutdown();
        sweep.close();
        spills.shutdown();
        try {
            spills.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        hz.shutdown();
        copies.close();
        replication.close();
        if (shared != null) {
            shared.close();
        }
    }

    /** A crash: connections drop, nothing is handed over. */
    public void kill() {
        server.shutdownNow();
        service.shutdown();
        sweep.close();
        spills.shutdownNow();
        hz.getLifecycleService().terminate();
        copies.close();
        replication.close();
        if (shared != null) {
            shared.close(); // a real crash leaves the directory: the next member on this host sweeps it
        }
    }

    /**
     * {@code host:port} with the host as an IP address when it resolves now. Measured in containers:
     * with an interface set, Hazelcast 5.7's TCP-IP join never tried peers named by host name (it
     * formed a cluster of one), while the same peers by address joined at once. A peer that does not
     * resolve yet keeps its name (it is looked for again when clusters merge).
     */
    static String resolved(String peer) {
        int colon = peer.lastIndexOf(':');
        String host = colon < 0 ? peer : peer.substring(0, colon);
        try {
            String ip = java.net.InetAddress.getByName(host).getHostAddress();
            return colon < 0 ? ip : ip + peer.substring(colon);
        } catch (java.net.UnknownHostException e) {
            return peer;
        }
    }

    /** Mutual TLS between members: each must present a kv-store certificate. */
    private static SSLContext peerContext(Tls tls) throws IOException {
        try {
            return tls.peerContext(Role.KV_STORE);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS for the replication port: " + e.getMessage(), e);
        }
    }

    /** Whether {@code address} is where one of the cluster's members runs (the replication port's callers). */
    private static boolean isMember(HazelcastInstance hz, InetAddress address) {
        for (Member m : hz.getCluster().getMembers()) {
            try {
                if (m.getAddress().getInetAddress().equals(address)) {
                    return true;
                }
            } catch (UnknownHostException e) {
                // a member whose address does not resolve is not this caller
            }
        }
        return false;
    }

    /** The address peers reach this member at: its bind address, or this machine's when bound to all. */
    private static String advertised(String host) throws UnknownHostException {
        return host.equals("0.0.0.0") ? InetAddress.getLocalHost().getHostAddress() : host;
    }

    private static int freePort(String host) throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(host.equals("0.0.0.0") ? "127.0.0.1" : host, 0));
            return s.getLocalPort();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot find a free port on " + host, e);
            throw e;
        }
    }
}
