package io.kvasir.kv.client;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;

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
import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.proto.kv.v1.AnnounceRequest;
import io.kvasir.proto.kv.v1.GetRequest;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.LookupRequest;
import io.kvasir.proto.kv.v1.LookupResponse;
import io.kvasir.proto.kv.v1.NodeStatus;
import io.kvasir.proto.kv.v1.NodesRequest;
import io.kvasir.proto.kv.v1.NodesResponse;
import io.kvasir.proto.kv.v1.PutRequest;
import io.kvasir.proto.kv.v1.PutResponse;
import io.kvasir.proto.kv.v1.StatsRequest;
import io.kvasir.proto.kv.v1.StatsResponse;
import io.kvasir.proto.kv.v1.Tier;
import io.kvasir.telemetry.Telemetry;
import io.kvasir.tls.Tls;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;

/**
 * What routers, prefill and decode nodes use to reach the store, through the members' gRPC API
 * only (the members' Hazelcast cluster is private to them). {@link StoreMembers} knows the members
 * and the partition table; every key goes to the member that owns its partition, so the member answers
 * from local memory; keys of different owners travel in parallel. When the owner cannot be
 * reached, the same keys go to the next member, which reads through the cluster: slower, still right.
 */
public final class KvStoreClient implements AutoCloseable {
    private static final long DEADLINE_SECONDS = 60;
    /** The store's Get, with responses read by {@link FetchedBlockMarshaller} (one copy per block). */
    private static final MethodDescriptor<GetRequest, FetchedBlockMarshaller.Fetched> GET = KvStoreGrpc.getGetMethod()
            .toBuilder(ProtoUtils.marshaller(GetRequest.getDefaultInstance()), new FetchedBlockMarshaller()).build();

    private final StoreMembers members;
    /** Calls to members, in parallel, each in its caller's trace. */
    private final ExecutorService calls = Telemetry.propagating(Executors.newVirtualThreadPerTaskExecutor());
    private final SharedMemoryReader shared = new SharedMemoryReader();
    private final ArenaGets arenaGets;
    private volatile boolean useSharedMemory = true;
    /** How often members on this host are told a reader is here (they forget after 10 minutes). */
    private static final long READER_GREETING_SECONDS = 60;
    /** The tenant a greeting names: it asks for no blocks. */
    private static final String READER_GREETING = "kvasir-reader";

    private KvStoreClient(List<String> storeAddresses, Tls tls) {
        this.members = new StoreMembers(storeAddresses, tls);
        this.arenaGets = new ArenaGets(shared, members::channel, calls, member -> {
            String attribute = sharedMemoryOf(member);
            if (attribute != null) {
                shared.forget(attribute);
            }
        });
    }

    /** Connects through any of {@code storeAddresses} (members' gRPC {@code host:port}); plaintext. */
    public static KvStoreClient connect(List<String> storeAddresses) {
        return connect(storeAddresses, null);
    }

    /**
     * As {@link #connect(List)}, with mutual TLS to the members when {@code tls} is given. Waits up
     * to 30 s for a first member to answer; {@link IllegalStateException} if none does.
     */
    public static KvStoreClient connect(List<String> storeAddresses, Tls tls) {
        KvStoreClient client = new KvStoreClient(storeAddresses, tls);
        try {
            client.members.awaitFirst();
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
        client.members.every(READER_GREETING_SECONDS, client::greetMembersOnThisHost);
        return client;
    }

    /**
     * Tells each member on this host that a reader here maps its arena (an empty GetShared), so that
     * the member copies what is put on it into the arena too; members on other hosts never hear it
     * and skip that copy. First sent with the first background refresh, after a client that reads
     * through gRPC only has said so ({@link #withoutSharedMemory}).
     */
    private void greetMembersOnThisHost() {
        if (!useSharedMemory) {
            return;
        }
        for (String member : members.addresses()) {
            if (sharedMemoryOf(member) != null) {
                try {
                    KvStoreGrpc.newBlockingStub(members.channel(member)).withDeadlineAfter(5, TimeUnit.SECONDS)
                            .getShared(GetRequest.newBuilder().setTenant(READER_GREETING).build());
                } catch (StatusRuntimeException e) {
                    // told again at the next greeting
                }
            }
        }
    }

    /** Stores blocks (idempotent: a key already stored is left as it is). */
    public void put(String tenant, List<BlockKey> keys, List<byte[]> payloads) throws KvStoreException {
        if (keys.size() != payloads.size()) {
            throw new IllegalArgumentException(keys.size() + " keys but " + payloads.size() + " payloads");
        }
        Span span = Telemetry.childSpan("kv put");
        StoreSpans.describePut(span, payloads);
        try (Scope ignored = span.makeCurrent()) {
            Map<String, List<Integer>> byOwner = members.byOwner(keys);
            List<Future<?>> pending = new ArrayList<>();
            for (var group : byOwner.entrySet()) {
                pending.add(calls.submit(() -> {
                    members.withFallback(group.getKey(), "put of " + group.getValue().size() + " blocks",
                            channel -> putOn(channel, tenant, keys, payloads, group.getValue()));
                    return null;
                }));
            }
            awaitAll(pending);
        } catch (KvStoreException | RuntimeException e) {
            span.setStatus(StatusCode.ERROR, e.toString());
            throw e;
        } finally {
            span.end();
        }
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
        Span span = Telemetry.childSpan("kv get");
        try (Scope ignored = span.makeCurrent()) {
            List<ByteBuffer> blocks = getBlocks(tenant, keys, tiers, span);
            StoreSpans.describeGet(span, blocks, tiers);
            return blocks;
        } catch (KvStoreException | RuntimeException e) {
            span.setStatus(StatusCode.ERROR, e.toString());
            throw e;
        } finally {
            span.end();
        }
    }

    /** {@link #get(String, List, Tier[])}'s work; {@code span} learns how many blocks each path served. */
    private List<ByteBuffer> getBlocks(String tenant, List<BlockKey> keys, Tier[] tiers, Span span)
            throws KvStoreException {
        ByteBuffer[] out = new ByteBuffer[keys.size()];
        Map<String, List<Integer>> viaGrpc = new LinkedHashMap<>();
        Map<String, List<Integer>> viaArena = new LinkedHashMap<>();
        Map<String, String> arenaFiles = new HashMap<>();
        for (var group : members.byOwner(keys).entrySet()) {
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
        if (span.isRecording()) {
            span.setAttribute("kvasir.blocks_arena", keys.size() - viaGrpc.values().stream().mapToLong(List::size).sum());
        }
        getVia(viaGrpc, GetRequest.newBuilder().setTenant(tenant), keys, out, tiers);
        for (int i = 0; i < out.length; i++) {
            if (out[i] != null && tiers[i] == null) {
                tiers[i] = Tier.TIER_HOST; // a member's shared-memory ring holds recent host-tier blocks
            }
        }
        return java.util.Arrays.asList(out);
    }

    /**
     * Layers {@code [firstLayer, firstLayer + layerCount)} of the blocks of {@code keys}, in order, each
     * a block of its own (see {@code BlockCodec#sliceLayers}); null where the store has none. Always
     * through gRPC: a reader takes a prefix layer by layer where it is far from the members.
     */
    public List<ByteBuffer> getLayers(String tenant, List<BlockKey> keys, Tier[] tiers, int firstLayer, int layerCount)
            throws KvStoreException {
        ByteBuffer[] out = new ByteBuffer[keys.size()];
        getVia(members.byOwner(keys), GetRequest.newBuilder().setTenant(tenant).setFirstLayer(firstLayer)
                .setLayerCount(layerCount), keys, out, tiers);
        return java.util.Arrays.asList(out);
    }

    /** Whether this client reads {@code key}'s block through its owner's shared memory (a member on this host). */
    public boolean readsSharedMemory(BlockKey key) {
        return useSharedMemory && sharedMemoryOf(members.byOwner(List.of(key)).keySet().iterator().next()) != null;
    }

    /** Gets {@code keys} through gRPC from the members that {@code byMember} names, all at once. */
    private void getVia(Map<String, List<Integer>> byMember, GetRequest.Builder request, List<BlockKey> keys,
            ByteBuffer[] out, Tier[] tiers) throws KvStoreException {
        List<Future<?>> pending = new ArrayList<>();
        for (var group : byMember.entrySet()) {
            pending.add(calls.submit(() -> {
                members.withFallback(group.getKey(), "get of " + group.getValue().size() + " blocks",
                        channel -> getOn(channel, request.clone(), keys, group.getValue(), out, tiers));
                return null;
            }));
        }
        awaitAll(pending);
    }

    /** Where each block lives and how many leading blocks are cached, from any member. */
    public LookupResponse lookup(String tenant, List<BlockKey> keys) throws KvStoreException {
        LookupRequest.Builder request = LookupRequest.newBuilder().setTenant(tenant);
        keys.forEach(k -> request.addKeys(ByteString.copyFrom(k.toBytes())));
        LookupRequest built = request.build();
        LookupResponse[] answer = new LookupResponse[1];
        members.withFallback(members.any(), "lookup of " + keys.size() + " keys",
                channel -> answer[0] = stub(channel).lookup(built));
        return answer[0];
    }

    /** Stats of every member, by gRPC address. */
    public Map<String, StatsResponse> stats() throws KvStoreException {
        Map<String, StatsResponse> out = new LinkedHashMap<>();
        for (String address : members()) {
            try {
                out.put(address, stub(members.channel(address)).stats(StatsRequest.getDefaultInstance()));
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
        members.withFallback(members.any(), "KV usage of tenant '" + tenant + "'", channel -> answer[0] = stub(channel).stats(request));
        return answer[0];
    }

    /** Publishes a node's heartbeat; it disappears after {@code ttlSeconds} unless published again. */
    public void announce(NodeHeartbeat heartbeat, long ttlSeconds) throws KvStoreException {
        AnnounceRequest request = AnnounceRequest.newBuilder().setNode(heartbeat.toProto())
                .setTtlSeconds((int) ttlSeconds).build();
        members.withFallback(members.any(), "heartbeat of " + heartbeat.nodeId(), channel -> stub(channel).announce(request));
    }

    /** Removes a node's heartbeat at once (a node shutting down cleanly). */
    public void withdraw(String nodeId) throws KvStoreException {
        AnnounceRequest request = AnnounceRequest.newBuilder().setWithdraw(true)
                .setNode(NodeStatus.newBuilder().setNodeId(nodeId)).build();
        members.withFallback(members.any(), "withdrawal of " + nodeId, channel -> stub(channel).announce(request));
    }

    /** Heartbeats of the live nodes. */
    public List<NodeHeartbeat> nodes() throws KvStoreException {
        NodesResponse[] answer = new NodesResponse[1];
        members.withFallback(members.any(), "node heartbeats",
                channel -> answer[0] = stub(channel).nodes(NodesRequest.getDefaultInstance()));
        List<NodeHeartbeat> out = new ArrayList<>();
        for (NodeStatus s : answer[0].getNodesList()) {
            out.add(NodeHeartbeat.fromProto(s));
        }
        return out;
    }

    /** gRPC addresses of the members this client knows. */
    public List<String> members() {
        return members.addresses();
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

    /** Gets the blocks of {@code keys} at {@code indices} still missing from {@code out}, with {@code request}'s tenant and layers. */
    private void getOn(ManagedChannel channel, GetRequest.Builder request, List<BlockKey> keys, List<Integer> indices,
            ByteBuffer[] out, Tier[] tiers) {
        // only what is still missing: a retry after a broken stream asks for the rest
        List<Integer> wanted = new ArrayList<>();
        for (int i : indices) {
            if (out[i] == null) {
                wanted.add(i);
            }
        }
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
        String attribute = members.sharedMemoryOf(grpcAddress);
        return attribute != null && shared.reaches(attribute) ? attribute : null;
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
        members.close();
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
