package io.kvasir.kv.client;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;

import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.store.BlockStore;
import io.kvasir.kv.store.KvSerialization;
import io.kvasir.kv.store.NodeDirectory;
import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.proto.kv.v1.GetRequest;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.LookupRequest;
import io.kvasir.proto.kv.v1.LookupResponse;
import io.kvasir.proto.kv.v1.PutRequest;
import io.kvasir.proto.kv.v1.PutResponse;
import io.kvasir.proto.kv.v1.StatsRequest;
import io.kvasir.proto.kv.v1.StatsResponse;
import io.kvasir.proto.kv.v1.Tier;
import io.kvasir.tls.GrpcTransport;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;

/**
 * What prefill and decode nodes use to reach the store. It joins the cluster as a Hazelcast client
 * (not a data member) only to know the members and the partition table, and moves blocks over each
 * member's gRPC data plane: every key goes to the member that owns its partition, so the member
 * answers from local memory; keys of different owners travel in parallel. When the owner cannot be
 * reached, the same keys go to the next member, which reads through the cluster: slower, still right.
 */
public final class KvStoreClient implements AutoCloseable {
    private static final long DEADLINE_SECONDS = 60;
    private static final int ATTEMPTS = 4;
    private static final String GRPC = BlockStore.GRPC_ATTRIBUTE;
    private static final String SHARED_MEMORY = BlockStore.SHARED_MEMORY_ATTRIBUTE;
    /** The store's Get, with responses read by {@link FetchedBlockMarshaller} (one copy per block). */
    private static final MethodDescriptor<GetRequest, FetchedBlockMarshaller.Fetched> GET = KvStoreGrpc.getGetMethod()
            .toBuilder(ProtoUtils.marshaller(GetRequest.getDefaultInstance()), new FetchedBlockMarshaller()).build();

    private final HazelcastInstance hz;
    /** This process's TLS identity, or null: plaintext channels. */
    private final Tls tls;
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final ExecutorService calls = Executors.newVirtualThreadPerTaskExecutor();
    private final AtomicInteger roundRobin = new AtomicInteger();
    private final SharedMemoryReader shared = new SharedMemoryReader();
    private final ArenaGets arenaGets = new ArenaGets(shared, this::channel, calls, member -> {
        String attribute = sharedMemoryOf(member);
        if (attribute != null) {
            shared.forget(attribute);
        }
    });
    private volatile boolean useSharedMemory = true;

    private KvStoreClient(HazelcastInstance hz, Tls tls) {
        this.hz = hz;
        this.tls = tls;
    }

    /** Connects through any of {@code hazelcastAddresses} ({@code host:port}); plaintext gRPC. */
    public static KvStoreClient connect(String clusterName, List<String> hazelcastAddresses) {
        return connect(clusterName, hazelcastAddresses, null);
    }

    /** As {@link #connect(String, List)}, with mutual TLS to the members' gRPC data plane when {@code tls} is given. */
    public static KvStoreClient connect(String clusterName, List<String> hazelcastAddresses, Tls tls) {
        Logger.getLogger("com.hazelcast").setLevel(java.util.logging.Level.WARNING);
        ClientConfig config = new ClientConfig();
        config.setClusterName(clusterName);
        config.setProperty("hazelcast.logging.type", "jdk");
        config.setProperty("hazelcast.phone.home.enabled", "false");
        config.getNetworkConfig().setAddresses(new ArrayList<>(hazelcastAddresses));
        config.getConnectionStrategyConfig().getConnectionRetryConfig().setClusterConnectTimeoutMillis(30_000);
        KvSerialization.register(config.getSerializationConfig());
        return new KvStoreClient(HazelcastClient.newHazelcastClient(config), tls);
    }

    /** Stores blocks (idempotent: a key already stored is left as it is). */
    public void put(String tenant, List<BlockKey> keys, List<byte[]> payloads) throws KvStoreException {
        if (keys.size() != payloads.size()) {
            throw new IllegalArgumentException(keys.size() + " keys but " + payloads.size() + " payloads");
        }
        Map<String, List<Integer>> byOwner = groupByOwner(keys);
        List<Future<?>> pending = new ArrayList<>();
        for (var group : byOwner.entrySet()) {
            pending.add(calls.submit(() -> {
                withFallback(group.getKey(), "put of " + group.getValue().size() + " blocks",
                        channel -> putOn(channel, tenant, keys, payloads, group.getValue()));
                return null;
            }));
        }
        awaitAll(pending);
    }

    /** The blocks of {@code keys}, in order; null where the store has none (or not for this tenant). */
    public List<ByteBuffer> get(String tenant, List<BlockKey> keys) throws KvStoreException {
        return get(tenant, keys, new Tier[keys.size()]);
    }

    /**
     * The blocks of {@code keys}, in order, as {@link #get(String, List)}; {@code tiers[i]} says
     * where block i came from (host or SSD tier; null where missing).
     */
    public List<ByteBuffer> get(String tenant, List<BlockKey> keys, Tier[] tiers) throws KvStoreException {
        ByteBuffer[] out = new ByteBuffer[keys.size()];
        Map<String, List<Integer>> viaGrpc = new LinkedHashMap<>();
        Map<String, List<Integer>> viaArena = new LinkedHashMap<>();
        Map<String, String> arenaFiles = new HashMap<>();
        for (var group : groupByOwner(keys).entrySet()) {
            String sharedMemory = useSharedMemory ? sharedMemoryOf(group.getKey()) : null;
            if (sharedMemory != null) {
                arenaFiles.put(group.getKey(), SharedMemoryReader.arenaFile(sharedMemory));
            }
            (sharedMemory != null ? viaArena : viaGrpc).put(group.getKey(), group.getValue());
        }
        if (!viaArena.isEmpty()) {
            arenaGets.get(tenant, keys, viaArena, arenaFiles, out, tiers).forEach((member, rest) ->
                    viaGrpc.computeIfAbsent(member, m -> new ArrayList<>()).addAll(rest));
        }
        List<Future<?>> pending = new ArrayList<>();
        for (var group : viaGrpc.entrySet()) {
            pending.add(calls.submit(() -> {
                withFallback(group.getKey(), "get of " + group.getValue().size() + " blocks",
                        channel -> getOn(channel, tenant, keys, group.getValue(), out, tiers));
                return null;
            }));
        }
        awaitAll(pending);
        for (int i = 0; i < out.length; i++) {
            if (out[i] != null && tiers[i] == null) {
                tiers[i] = Tier.TIER_HOST; // a member's shared-memory ring holds recent host-tier blocks
            }
        }
        return java.util.Arrays.asList(out);
    }

    /** Where each block lives and how many leading blocks are cached, from any member. */
    public LookupResponse lookup(String tenant, List<BlockKey> keys) throws KvStoreException {
        LookupRequest.Builder request = LookupRequest.newBuilder().setTenant(tenant);
        keys.forEach(k -> request.addKeys(ByteString.copyFrom(k.toBytes())));
        LookupRequest built = request.build();
        LookupResponse[] answer = new LookupResponse[1];
        withFallback(anyMember(), "lookup of " + keys.size() + " keys",
                channel -> answer[0] = stub(channel).lookup(built));
        return answer[0];
    }

    /** Stats of every member, by gRPC address. */
    public Map<String, StatsResponse> stats() throws KvStoreException {
        Map<String, StatsResponse> out = new LinkedHashMap<>();
        for (Member m : hz.getCluster().getMembers()) {
            String address = m.getAttribute(GRPC);
            try {
                out.put(address, stub(channel(address)).stats(StatsRequest.getDefaultInstance()));
            } catch (StatusRuntimeException e) {
                throw new KvStoreException(e.getStatus(), "stats of " + address);
            }
        }
        return out;
    }

    /** A tenant's bytes in the store (cluster-wide) and its quota (0: none), from any member. */
    public StatsResponse tenantUsage(String tenant) throws KvStoreException {
        StatsRequest request = StatsRequest.newBuilder().setTenant(tenant).build();
        StatsResponse[] answer = new StatsResponse[1];
        withFallback(anyMember(), "KV usage of tenant '" + tenant + "'", channel -> answer[0] = stub(channel).stats(request));
        return answer[0];
    }

    /** Publishes a node's heartbeat; it disappears after {@code ttlSeconds} unless published again. */
    public void announce(NodeHeartbeat heartbeat, long ttlSeconds) {
        hz.<String, NodeHeartbeat>getReplicatedMap(NodeDirectory.HEARTBEATS).put(heartbeat.nodeId(), heartbeat,
                ttlSeconds, TimeUnit.SECONDS);
    }

    /** Removes a node's heartbeat at once (a node shutting down cleanly). */
    public void withdraw(String nodeId) {
        hz.getReplicatedMap(NodeDirectory.HEARTBEATS).remove(nodeId);
    }

    /** Heartbeats of the live nodes. */
    public List<NodeHeartbeat> nodes() {
        return new ArrayList<>(hz.<String, NodeHeartbeat>getReplicatedMap(NodeDirectory.HEARTBEATS).values());
    }

    /** gRPC addresses of the members this client knows. */
    public List<String> members() {
        List<String> out = new ArrayList<>();
        for (Member m : hz.getCluster().getMembers()) {
            out.add(m.getAttribute(GRPC));
        }
        return out;
    }

    private interface Call {
        void run(ManagedChannel channel) throws StatusRuntimeException;
    }

    /** Tries the preferred member, then the others in turn; bad input is never retried. */
    private void withFallback(String preferred, String what, Call call) throws KvStoreException {
        Status last = Status.UNAVAILABLE.withDescription("no kv-store member reachable");
        String target = preferred;
        for (int attempt = 0; attempt < ATTEMPTS && target != null; attempt++) {
            try {
                call.run(channel(target));
                return;
            } catch (StatusRuntimeException e) {
                last = e.getStatus();
                if (!retryable(last.getCode())) {
                    throw new KvStoreException(last, what + " on " + target);
                }
                target = otherMember(target);
            }
        }
        throw new KvStoreException(last, what + " after " + ATTEMPTS + " attempts");
    }

    private static boolean retryable(Status.Code code) {
        return code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED
                || code == Status.Code.CANCELLED || code == Status.Code.UNKNOWN || code == Status.Code.INTERNAL
                || code == Status.Code.ABORTED;
    }

    private void putOn(ManagedChannel channel, String tenant, List<BlockKey> keys, List<byte[]> payloads,
            List<Integer> indices) {
        PutCall call = new PutCall();
        // ready while up to 8 MiB are queued (gRPC's default, 32 KiB, is less than one block)
        KvStoreGrpc.newStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS)
                .withOnReadyThreshold(8 << 20).put(call);
        try {
            for (int i : indices) {
                call.awaitReady();
                call.requests.onNext(PutRequest.newBuilder().setTenant(tenant)
                        .setKey(UnsafeByteOperations.unsafeWrap(keys.get(i).toBytes()))
                        .setPayload(UnsafeByteOperations.unsafeWrap(payloads.get(i))).build());
            }
            call.requests.onCompleted();
            call.awaitDone();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            call.requests.cancel("interrupted", e);
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }

    private void getOn(ManagedChannel channel, String tenant, List<BlockKey> keys, List<Integer> indices,
            ByteBuffer[] out, Tier[] tiers) {
        // only what is still missing: a retry after a broken stream asks for the rest
        List<Integer> wanted = new ArrayList<>();
        for (int i : indices) {
            if (out[i] == null) {
                wanted.add(i);
            }
        }
        GetRequest.Builder request = GetRequest.newBuilder().setTenant(tenant);
        Map<BlockKey, List<Integer>> positions = new HashMap<>();
        for (int i : wanted) {
            request.addKeys(UnsafeByteOperations.unsafeWrap(keys.get(i).toBytes()));
            positions.computeIfAbsent(keys.get(i), k -> new ArrayList<>()).add(i);
        }
        // answers are read and filed on the transport's thread as they arrive (a direct executor): no
        // hand-off to this thread per block, which on a busy host cost more than the copy itself
        CompletableFuture<Void> done = new CompletableFuture<>();
        ClientCall<GetRequest, FetchedBlockMarshaller.Fetched> call = channel.newCall(GET, CallOptions.DEFAULT
                .withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS).withExecutor(Runnable::run));
        ClientCalls.asyncServerStreamingCall(call, request.build(), new StreamObserver<>() {
            @Override
            public void onNext(FetchedBlockMarshaller.Fetched r) {
                if (r.found()) {
                    for (int i : positions.getOrDefault(BlockKey.of(r.key()), List.of())) {
                        out[i] = r.payload();
                        tiers[i] = r.tier();
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                done.complete(null);
            }
        });
        try {
            done.get();
        } catch (ExecutionException e) {
            throw Status.fromThrowable(e.getCause()).asRuntimeException();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            call.cancel("interrupted", e);
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }

    /** The member's shared-memory attribute when this process can use it, else null. */
    private String sharedMemoryOf(String grpcAddress) {
        for (Member m : hz.getCluster().getMembers()) {
            if (grpcAddress != null && grpcAddress.equals(m.getAttribute(GRPC))) {
                String attribute = m.getAttribute(SHARED_MEMORY);
                return shared.reaches(attribute) ? attribute : null;
            }
        }
        return null;
    }

    /**
     * Gets through gRPC only, even from a member on this host (benchmarks compare the two paths;
     * containers that share /dev/shm but should not).
     */
    public KvStoreClient withoutSharedMemory() {
        useSharedMemory = false;
        return this;
    }

    /** Blocks this client has read through members' shared memory (the rest came through gRPC). */
    public long sharedMemoryReads() {
        return arenaGets.reads();
    }

    private KvStoreGrpc.KvStoreBlockingStub stub(ManagedChannel channel) {
        return KvStoreGrpc.newBlockingStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    private Map<String, List<Integer>> groupByOwner(List<BlockKey> keys) {
        Map<String, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < keys.size(); i++) {
            Member owner = hz.getPartitionService().getPartition(keys.get(i).hex()).getOwner();
            String address = owner == null ? anyMember() : owner.getAttribute(GRPC);
            groups.computeIfAbsent(address, a -> new ArrayList<>()).add(i);
        }
        return groups;
    }

    private String anyMember() {
        List<String> members = members();
        return members.isEmpty() ? null : members.get(Math.floorMod(roundRobin.getAndIncrement(), members.size()));
    }

    private String otherMember(String failed) {
        List<String> members = new ArrayList<>(members());
        members.remove(failed);
        if (members.isEmpty()) {
            return failed; // the only one: try again (it may be restarting)
        }
        Collections.rotate(members, roundRobin.getAndIncrement());
        return members.get(0);
    }

    private ManagedChannel channel(String address) {
        return channels.computeIfAbsent(address, a -> GrpcTransport.channel(a, tls, Role.KV_STORE)
                .maxInboundMessageSize(256 << 20)
                .flowControlWindow(32 << 20)
                .build());
    }

    private static void awaitAll(List<Future<?>> pending) throws KvStoreException {
        KvStoreException failure = null;
        for (Future<?> f : pending) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof KvStoreException k) {
                    failure = failure == null ? k : failure;
                } else {
                    throw new IllegalStateException("kv-store call failed", e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new KvStoreException(Status.CANCELLED, "interrupted");
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public void close() {
        calls.shutdownNow();
        shared.close();
        channels.values().forEach(ManagedChannel::shutdownNow);
        hz.shutdown();
    }

    /** A client-streaming Put with flow control: the sender waits while the transport is full. */
    private static final class PutCall implements ClientResponseObserver<PutRequest, PutResponse> {
        private ClientCallStreamObserver<PutRequest> requests;
        private final Object lock = new Object();
        private boolean done;
        private Throwable error;

        @Override
        public void beforeStart(ClientCallStreamObserver<PutRequest> stream) {
            requests = stream;
            stream.setOnReadyHandler(this::wake);
        }

        @Override
        public void onNext(PutResponse value) {
        }

        @Override
        public void onError(Throwable t) {
            synchronized (lock) {
                error = t;
                done = true;
                lock.notifyAll();
            }
        }

        @Override
        public void onCompleted() {
            synchronized (lock) {
                done = true;
                lock.notifyAll();
            }
        }

        private void wake() {
            synchronized (lock) {
                lock.notifyAll();
            }
        }

        void awaitReady() throws InterruptedException {
            synchronized (lock) {
                while (!requests.isReady() && !done) {
                    lock.wait(50);
                }
                failIfError();
            }
        }

        void awaitDone() throws InterruptedException {
            synchronized (lock) {
                while (!done) {
                    lock.wait(50);
                }
                failIfError();
            }
        }

        private void failIfError() {
            if (error != null) {
                throw error instanceof StatusRuntimeException s ? s : Status.fromThrowable(error).asRuntimeException();
            }
        }
    }
}
