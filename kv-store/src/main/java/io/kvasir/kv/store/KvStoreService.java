package io.kvasir.kv.store;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.logging.Logger;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import com.hazelcast.core.HazelcastInstanceNotActiveException;

import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.store.IncomingBlockMarshaller.IncomingBlock;
import io.kvasir.proto.kv.v1.AnnounceRequest;
import io.kvasir.proto.kv.v1.AnnounceResponse;
import io.kvasir.proto.kv.v1.BlockLocation;
import io.kvasir.proto.kv.v1.GetRequest;
import io.kvasir.proto.kv.v1.GetResponse;
import io.kvasir.proto.kv.v1.GetSharedResponse;
import io.kvasir.proto.kv.v1.SharedBlock;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.LookupRequest;
import io.kvasir.proto.kv.v1.LookupResponse;
import io.kvasir.proto.kv.v1.NodesRequest;
import io.kvasir.proto.kv.v1.NodesResponse;
import io.kvasir.proto.kv.v1.PutRequest;
import io.kvasir.proto.kv.v1.PutResponse;
import io.kvasir.proto.kv.v1.StatsRequest;
import io.kvasir.proto.kv.v1.StatsResponse;
import io.kvasir.proto.kv.v1.Tier;
import io.kvasir.proto.kv.v1.TopologyRequest;
import io.kvasir.proto.kv.v1.TopologyResponse;

/** The gRPC data plane of one member: translates requests to {@link BlockStore} calls, errors to statuses. */
final class KvStoreService extends KvStoreGrpc.KvStoreImplBase {
    private static final Logger LOG = Logger.getLogger(KvStoreService.class.getName());
    /** Most keys one Get or Lookup may name (a 1M-token prompt in 16-token blocks is 65536). */
    static final int MAX_KEYS = 1 << 16;
    /** Blocks one Put stream stores at once (see {@link PipelinedPut}). */
    static final int PUTS_IN_FLIGHT = 8;
    /** Bytes a stream may queue in the transport before the sender waits. */
    static final int IN_FLIGHT_BYTES = 8 << 20;

    private final BlockStore store;
    private final SharedArena shared;
    /** Get streams and the puts of Put streams run here, off gRPC's threads. */
    private final ExecutorService work = Executors.newVirtualThreadPerTaskExecutor();

    /** {@code shared}: this member's shared-memory arena, or null (GetShared then answers UNIMPLEMENTED). */
    KvStoreService(BlockStore store, SharedArena shared) {
        this.store = store;
        this.shared = shared;
    }

    void shutdown() {
        work.shutdownNow();
    }

    /**
     * The service as the server runs it: Put's requests are read by {@link IncomingBlockMarshaller}
     * (each payload copied once, into the form the host tier keeps) instead of the generated parser.
     */
    ServerServiceDefinition definition() {
        ServerServiceDefinition generated = bindService();
        MethodDescriptor<PutRequest, PutResponse> generatedPut = KvStoreGrpc.getPutMethod();
        MethodDescriptor<IncomingBlock, PutResponse> put = generatedPut.toBuilder(
                new IncomingBlockMarshaller(store::framed, store.maxMessageBytes()),
                generatedPut.getResponseMarshaller()).build();
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(KvStoreGrpc.SERVICE_NAME)
                .setSchemaDescriptor(generated.getServiceDescriptor().getSchemaDescriptor()).addMethod(put);
        List<ServerMethodDefinition<?, ?>> others = generated.getMethods().stream()
                .filter(m -> !m.getMethodDescriptor().getFullMethodName().equals(put.getFullMethodName())).toList();
        others.forEach(m -> descriptor.addMethod(m.getMethodDescriptor()));
        ServerServiceDefinition.Builder def = ServerServiceDefinition.builder(descriptor.build())
                .addMethod(put, ServerCalls.asyncClientStreamingCall(PipelinedPut::new));
        others.forEach(def::addMethod);
        return def.build();
    }

    /**
     * One Put stream. A block's put waits on round trips (the index and its backup, the map, the
     * block's copies on other members), so the stream keeps several blocks' puts running at once
     * instead of storing one block per message; the answer waits for all of them.
     */
    private final class PipelinedPut implements StreamObserver<IncomingBlock> {
        private final StreamObserver<PutResponse> response;
        private final ArrayDeque<Future<Integer>> running = new ArrayDeque<>();
        private final long started = System.nanoTime();
        private int stored;
        private long bytes;
        private boolean failed;

        PipelinedPut(StreamObserver<PutResponse> response) {
            this.response = response;
        }

        @Override
        public void onNext(IncomingBlock block) {
            if (failed) {
                return;
            }
            try {
                BlockKey key = key(block.key(), stored + running.size());
                running.add(work.submit(() -> {
                    store.put(block, key);
                    return block.payloadLength();
                }));
                while (running.size() > PUTS_IN_FLIGHT && !failed) {
                    finishOldest();
                }
            } catch (StatusException e) {
                fail(e);
            } catch (RuntimeException e) {
                fail(unexpected(e)); // the member is shutting down (its executor refuses work)
            }
        }

        private void finishOldest() {
            try {
                bytes += running.remove().get();
                stored++;
            } catch (ExecutionException e) {
                fail(e.getCause() instanceof StatusException s ? s
                        : e.getCause() instanceof RuntimeException r ? unexpected(r)
                        : Status.INTERNAL.withCause(e.getCause()).asException());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail(Status.CANCELLED.withDescription("member shutting down").asException());
            }
        }

        private void fail(StatusException e) {
            if (!failed) {
                failed = true;
                response.onError(e);
            }
        }

        @Override
        public void onError(Throwable t) {
            failed = true; // the client went away; what arrived is stored
        }

        @Override
        public void onCompleted() {
            while (!running.isEmpty() && !failed) {
                finishOldest();
            }
            store.metrics().transferred(true, bytes, System.nanoTime() - started);
            if (!failed) {
                response.onNext(PutResponse.newBuilder().setStored(stored).setBytes(bytes).build());
                response.onCompleted();
            }
        }
    }

    @Override
    public void get(GetRequest request, StreamObserver<GetResponse> response) {
        ServerCallStreamObserver<GetResponse> out = (ServerCallStreamObserver<GetResponse>) response;
        ReadyGate gate = new ReadyGate(out);
        // stream from a thread of our own: the call's executor must stay free to deliver onReady
        try {
            work.execute(() -> stream(request, out, gate));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            out.onError(unexpected(e)); // shutting down: UNAVAILABLE, the client asks another member
        }
    }

    private void stream(GetRequest request, ServerCallStreamObserver<GetResponse> out, ReadyGate gate) {
        long started = System.nanoTime();
        long[] bytes = {0};
        try {
            List<BlockKey> keys = keys(request.getKeysList());
            int firstLayer = request.getFirstLayer();
            int layerCount = request.getLayerCount();
            if (firstLayer < 0 || layerCount < 0) {
                throw Status.INVALID_ARGUMENT.withDescription("first_layer " + Integer.toUnsignedString(firstLayer)
                        + " and layer_count " + Integer.toUnsignedString(layerCount) + " must be below 2^31").asException();
            }
            store.get(request.getTenant(), keys, f -> {
                gate.awaitReady();
                if (out.isCancelled()) {
                    throw new InterruptedException("cancelled by the client");
                }
                byte[] payload = layerCount == 0 || f.payload() == null ? f.payload()
                        : layers(f.payload(), firstLayer, layerCount);
                GetResponse.Builder b = GetResponse.newBuilder().setKey(UnsafeByteOperations.unsafeWrap(f.key().toBytes()))
                        .setFound(payload != null).setTier(payload != null ? f.tier() : Tier.TIER_MISSING);
                if (payload != null) {
                    b.setPayload(UnsafeByteOperations.unsafeWrap(payload)); // no copy: the array is ours
                    bytes[0] += payload.length;
                }
                out.onNext(b.build());
            });
            out.onCompleted();
            store.metrics().transferred(false, bytes[0], System.nanoTime() - started);
        } catch (StatusException e) {
            out.onError(e);
        } catch (StatusRuntimeException e) {
            out.onError(e.getStatus().asException());
        } catch (RuntimeException e) {
            out.onError(unexpected(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            out.onError(Status.CANCELLED.withDescription("member shutting down").asException());
        }
    }

    /**
     * Layers of a stored block as a block of their own; null (a miss) if the stored bytes do not
     * parse, which the put and the SSD read would have caught.
     */
    private static byte[] layers(byte[] block, int first, int count) {
        try {
            return BlockCodec.sliceLayers(ByteBuffer.wrap(block), first, count);
        } catch (BlockFormatException e) {
            LOG.warning("a stored block does not parse (answered as a miss): " + e.getMessage());
            return null;
        } catch (IllegalArgumentException e) {
            throw Status.INVALID_ARGUMENT.withDescription("first_layer/layer_count: " + e.getMessage())
                    .asRuntimeException();
        }
    }

    @Override
    public void getShared(GetRequest request, StreamObserver<GetSharedResponse> response) {
        if (shared == null) {
            response.onError(Status.UNIMPLEMENTED.withDescription("this member has no shared-memory arena")
                    .asException());
            return;
        }
        long started = System.nanoTime();
        shared.readerSeen();
        try {
            String tenant = request.getTenant();
            List<BlockKey> keys = keys(request.getKeysList());
            GetSharedResponse.Builder b = GetSharedResponse.newBuilder().setFile(shared.file().toString());
            long copied = 0;
            long bytes = 0;
            // a leading part of the keys: what one answer copies in must not lap the ring before it is read
            for (int from = 0; from < keys.size() && copied < shared.capacity() / 4; from += 8) {
                List<BlockKey> chunk = keys.subList(from, Math.min(keys.size(), from + 8));
                SharedArena.Slot[] slots = new SharedArena.Slot[chunk.size()];
                List<BlockKey> absent = new ArrayList<>();
                for (int i = 0; i < chunk.size(); i++) {
                    slots[i] = shared.find(chunk.get(i), tenant);
                    if (slots[i] == null) {
                        absent.add(chunk.get(i));
                    }
                }
                Map<BlockKey, BlockStore.Found> read = new HashMap<>();
                for (BlockStore.Found f : store.get(tenant, absent)) {
                    read.put(f.key(), f);
                }
                for (int i = 0; i < chunk.size(); i++) {
                    SharedBlock.Builder block = SharedBlock.newBuilder()
                            .setKey(UnsafeByteOperations.unsafeWrap(chunk.get(i).toBytes()));
                    SharedArena.Slot slot = slots[i];
                    Tier tier = Tier.TIER_HOST;
                    if (slot == null) {
                        BlockStore.Found f = read.get(chunk.get(i));
                        tier = f.tier();
                        if (f.payload() != null) {
                            slot = shared.add(chunk.get(i), tenant, f.payload());
                            copied += f.payload().length;
                            block.setFound(true).setShared(slot != null);
                        }
                    }
                    if (slot != null) {
                        block.setFound(true).setShared(true).setPosition(slot.position()).setLength(slot.length());
                        bytes += slot.length();
                    }
                    b.addBlocks(block.setTier(tier));
                }
            }
            response.onNext(b.build());
            response.onCompleted();
            store.metrics().transferred(false, bytes, System.nanoTime() - started);
        } catch (StatusException e) {
            response.onError(e);
        } catch (RuntimeException e) {
            response.onError(unexpected(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            response.onError(Status.CANCELLED.withDescription("member shutting down").asException());
        }
    }

    @Override
    public void lookup(LookupRequest request, StreamObserver<LookupResponse> response) {
        answer(response, () -> {
            List<BlockStore.Location> locations = store.lookup(request.getTenant(), keys(request.getKeysList()));
            LookupResponse.Builder b = LookupResponse.newBuilder();
            int prefix = 0;
            boolean inPrefix = true;
            for (BlockStore.Location loc : locations) {
                inPrefix &= loc.tier() != Tier.TIER_MISSING;
                if (inPrefix) {
                    prefix++;
                }
                b.addLocations(BlockLocation.newBuilder().setTier(loc.tier()).setMember(loc.member())
                        .addAllNodes(loc.nodes()));
            }
            return b.setCachedPrefixBlocks(prefix).build();
        });
    }

    @Override
    public void stats(StatsRequest request, StreamObserver<StatsResponse> response) {
        Map<String, Long> s = store.stats();
        StatsResponse.Builder b = StatsResponse.newBuilder().setMember(store.memberName())
                .setClusterBlocks(s.get("cluster_blocks")).setHostBlocks(s.get("host_blocks"))
                .setHostBytes(s.get("host_bytes")).setSsdBlocks(s.get("ssd_blocks")).setSsdBytes(s.get("ssd_bytes"))
                .setGets(s.get("gets")).setHits(s.get("hits")).setSsdHits(s.get("ssd_hits")).setPuts(s.get("puts"))
                .setRejected(s.get("rejected"));
        if (!request.getTenant().isEmpty()) {
            long[] usage = store.tenantUsage(request.getTenant());
            b.setTenantBytes(Math.max(0, usage[0])).setTenantQuota(usage[1] == Long.MAX_VALUE ? 0 : usage[1]);
        }
        response.onNext(b.build());
        response.onCompleted();
    }

    @Override
    public void topology(TopologyRequest request, StreamObserver<TopologyResponse> response) {
        answer(response, () -> StoreTopology.of(store.hazelcast()));
    }

    /** Heartbeats live at most this long without being announced again. */
    static final int MAX_TTL_SECONDS = 60;

    @Override
    public void announce(AnnounceRequest request, StreamObserver<AnnounceResponse> response) {
        answer(response, () -> {
            if (request.getWithdraw()) {
                store.nodes().withdraw(request.getNode().getNodeId());
            } else {
                if (request.getTtlSeconds() < 1 || request.getTtlSeconds() > MAX_TTL_SECONDS) {
                    throw BlockStore.invalid("ttl_seconds must be 1 to " + MAX_TTL_SECONDS + ", got "
                            + Integer.toUnsignedString(request.getTtlSeconds()));
                }
                NodeHeartbeat heartbeat;
                try {
                    heartbeat = NodeHeartbeat.fromProto(request.getNode());
                } catch (IllegalArgumentException e) {
                    throw BlockStore.invalid("heartbeat: " + e.getMessage());
                }
                store.nodes().announce(heartbeat, request.getTtlSeconds());
            }
            return AnnounceResponse.getDefaultInstance();
        });
    }

    @Override
    public void nodes(NodesRequest request, StreamObserver<NodesResponse> response) {
        answer(response, () -> {
            NodesResponse.Builder b = NodesResponse.newBuilder();
            store.nodes().all().forEach(h -> b.addNodes(h.toProto()));
            return b.build();
        });
    }

    /** A unary call's answer, or its error as a status: bad input as given, anything unexpected per {@link #unexpected}. */
    private interface Answer<T> {
        T get() throws StatusException;
    }

    private static <T> void answer(StreamObserver<T> response, Answer<T> answer) {
        T value;
        try {
            value = answer.get();
        } catch (StatusException e) {
            response.onError(e);
            return;
        } catch (RuntimeException e) {
            response.onError(unexpected(e));
            return;
        }
        response.onNext(value);
        response.onCompleted();
    }

    /** A member going down answers UNAVAILABLE (clients retry elsewhere); anything else is INTERNAL. */
    private static StatusException unexpected(RuntimeException e) {
        if (e instanceof HazelcastInstanceNotActiveException || e instanceof java.util.concurrent.RejectedExecutionException) {
            return Status.UNAVAILABLE.withDescription("kv-store member is shutting down").withCause(e).asException();
        }
        return Status.INTERNAL.withDescription("kv-store member failed: " + e).withCause(e).asException();
    }

    private static List<BlockKey> keys(List<ByteString> raw) throws StatusException {
        if (raw.size() > MAX_KEYS) {
            throw BlockStore.invalid("request names " + raw.size() + " keys; the limit is " + MAX_KEYS);
        }
        List<BlockKey> keys = new ArrayList<>(raw.size());
        for (int i = 0; i < raw.size(); i++) {
            keys.add(key(raw.get(i), i));
        }
        return keys;
    }

    private static BlockKey key(ByteString raw, int index) throws StatusException {
        if (raw.size() != BlockKey.BYTES) {
            throw BlockStore.invalid("key " + index + " is " + raw.size() + " bytes; block keys are " + BlockKey.BYTES);
        }
        return BlockKey.of(raw.toByteArray());
    }

    /** Blocks the sending thread while the client is not ready for more: bounded memory per stream. */
    private static final class ReadyGate {
        private final ServerCallStreamObserver<?> out;
        private final Object lock = new Object();

        ReadyGate(ServerCallStreamObserver<?> out) {
            this.out = out;
            // gRPC calls a stream "ready" while under 32 KiB is queued: less than one block, so every
            // block would wait for the previous one to drain. Keep a few blocks in flight instead.
            out.setOnReadyThreshold(IN_FLIGHT_BYTES);
            out.setOnReadyHandler(() -> {
                synchronized (lock) {
                    lock.notifyAll();
                }
            });
            out.setOnCancelHandler(() -> {
                synchronized (lock) {
                    lock.notifyAll();
                }
            });
        }

        void awaitReady() throws InterruptedException {
            synchronized (lock) {
                while (!out.isReady() && !out.isCancelled()) {
                    lock.wait(100);
                }
            }
        }
    }
}
