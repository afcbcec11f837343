package io.kvasir.kv.store;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.proto.kv.v1.AnnounceRequest;
import io.kvasir.proto.kv.v1.GetRequest;
import io.kvasir.proto.kv.v1.GetResponse;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.LookupRequest;
import io.kvasir.proto.kv.v1.NodeStatus;
import io.kvasir.proto.kv.v1.PutRequest;
import io.kvasir.proto.kv.v1.PutResponse;
import io.kvasir.proto.kv.v1.StatsRequest;
import io.kvasir.testing.LocalStore;

/**
 * A KV-store member's gRPC API as any caller on the network may call it: puts of good, damaged
 * and made-up blocks under any tenant and key, gets (streamed and shared-memory) of any keys and layer
 * ranges, lookups, stats and heartbeats, all against a real member. Every call is answered within a deadline: done, or
 * refused with INVALID_ARGUMENT or RESOURCE_EXHAUSTED and a message; a block a get finds decodes
 * and is one it was asked for; afterwards the member stores and returns a block as before.
 */
class StoreRequestFuzzTest {
    private static final Set<Status.Code> REFUSALS = Set.of(Status.Code.INVALID_ARGUMENT, Status.Code.RESOURCE_EXHAUSTED,
            Status.Code.UNIMPLEMENTED); // a shared get, where the member has no arena
    private static final String[] TENANTS = {"alpha", "beta"};
    private static final List<ByteString> KEYS = new ArrayList<>();
    private static final List<byte[]> BLOCKS = new ArrayList<>();
    /** Held so that its level stays set: refused puts and odd blocks are warnings, many a second here. */
    private static final Logger QUIET = Logger.getLogger("io.kvasir.kv");
    private static LocalStore store;
    private static ManagedChannel channel;

    @BeforeAll
    static void startAMember() {
        QUIET.setLevel(Level.SEVERE);
        for (int i = 0; i < 4; i++) {
            BlockKey key = BlockKeys.chain(BlockKeys.root("m", 1, CacheDType.F16, ("s" + i).getBytes(StandardCharsets.UTF_8)),
                    new int[4], 4).getFirst();
            KEYS.add(ByteString.copyFrom(key.toBytes()));
            int seed = i;
            BLOCKS.add(BlockCodec.encode("m", BlockLayout.attention(CacheDType.F16, 4, 3, 1, 8), columns -> {
                for (ByteBuffer c : columns) {
                    while (c.hasRemaining()) {
                        c.put((byte) (c.position() + seed));
                    }
                }
            }));
        }
        store = LocalStore.start();
        String[] address = store.member().grpcAddress().split(":");
        channel = NettyChannelBuilder.forAddress(address[0], Integer.parseInt(address[1])).usePlaintext().build();
    }

    @AfterAll
    static void theMemberServesAsBeforeAfterwards() throws Exception {
        try {
            ByteString key = ByteString.copyFrom(BlockKeys.chain(BlockKeys.root("m", 1, CacheDType.F16,
                    "after".getBytes(StandardCharsets.UTF_8)), new int[4], 4).getFirst().toBytes());
            put(List.of(PutRequest.newBuilder().setTenant("after").setKey(key)
                    .setPayload(ByteString.copyFrom(BLOCKS.getFirst())).build())).get(30, TimeUnit.SECONDS);
            Iterator<GetResponse> got = stub().get(GetRequest.newBuilder().setTenant("after").addKeys(key).build());
            GetResponse r = got.next();
            if (!r.getFound() || !Arrays.equals(BLOCKS.getFirst(), r.getPayload().toByteArray())) {
                throw new AssertionError("after the fuzzing, a block put is not returned as it was");
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            store.close();
        }
    }

    @FuzzTest(maxExecutions = 10_000)
    void callsAreAnsweredOrRefused(FuzzedDataProvider data) throws Exception {
        int call = data.consumeInt(0, 5);
        try {
            switch (call) {
                case 0 -> {
                    List<PutRequest> puts = new ArrayList<>();
                    int n = data.consumeInt(0, 3);
                    for (int i = 0; i < n; i++) {
                        puts.add(PutRequest.newBuilder().setTenant(tenant(data)).setKey(key(data))
                                .setPayload(ByteString.copyFrom(payload(data))).build());
                    }
                    put(puts).get(30, TimeUnit.SECONDS);
                }
                case 1 -> {
                    GetRequest request = GetRequest.newBuilder().setTenant(tenant(data)).addAllKeys(keys(data))
                            .setFirstLayer(data.consumeInt()).setLayerCount(data.consumeInt()).build();
                    stub().get(request).forEachRemaining(r -> {
                        if (!request.getKeysList().contains(r.getKey())) {
                            throw new AssertionError("a get answered a key it was not asked for");
                        }
                        if (r.getFound()) {
                            try {
                                BlockCodec.decode(r.getPayload().asReadOnlyByteBuffer());
                            } catch (BlockFormatException e) {
                                throw new AssertionError("a get found a block that does not decode", e);
                            }
                        }
                    });
                }
                case 2 -> stub().lookup(LookupRequest.newBuilder().setTenant(tenant(data)).addAllKeys(keys(data)).build());
                case 3 -> stub().stats(StatsRequest.newBuilder().setTenant(tenant(data)).build());
                case 4 -> {
                    GetRequest request = GetRequest.newBuilder().setTenant(tenant(data)).addAllKeys(keys(data))
                            .setFirstLayer(data.consumeInt()).setLayerCount(data.consumeInt()).build();
                    var shared = stub().getShared(request);
                    if (shared.getBlocksCount() > request.getKeysCount()) {
                        throw new AssertionError("a shared get answered more blocks than it was asked for");
                    }
                }
                default -> stub().announce(AnnounceRequest.newBuilder().setTtlSeconds(data.consumeInt())
                        .setWithdraw(data.consumeBoolean()).setNode(NodeStatus.newBuilder().setNodeId(data.consumeString(80))
                                .setRole(data.consumeString(20)).setAddress(data.consumeString(80))
                                .setFreeBlocks(data.consumeLong()).setTotalBlocks(data.consumeLong())
                                .setResidentKeys(ByteString.copyFrom(data.consumeBytes(100)))).build());
            }
        } catch (java.util.concurrent.ExecutionException e) {
            refused(call, Status.fromThrowable(e.getCause()));
        } catch (StatusRuntimeException e) {
            refused(call, e.getStatus());
        }
    }

    private static void refused(int call, Status status) {
        if (!REFUSALS.contains(status.getCode()) || status.getDescription() == null || status.getDescription().isBlank()) {
            throw new AssertionError("call " + call + " answered " + status, status.getCause());
        }
    }

    private static KvStoreGrpc.KvStoreBlockingStub stub() {
        return KvStoreGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private static CompletableFuture<PutResponse> put(List<PutRequest> puts) {
        CompletableFuture<PutResponse> done = new CompletableFuture<>();
        StreamObserver<PutRequest> out = KvStoreGrpc.newStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .put(new StreamObserver<>() {
                    @Override
                    public void onNext(PutResponse r) {
                        done.complete(r);
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
        puts.forEach(out::onNext);
        out.onCompleted();
        return done;
    }

    private static String tenant(FuzzedDataProvider data) {
        // the fuzzer's own choices when it says so; what a node sends when its bytes run out
        return data.consumeBoolean() ? data.consumeString(150) : TENANTS[data.consumeInt(0, 1)];
    }

    private static ByteString key(FuzzedDataProvider data) {
        return data.consumeBoolean() ? ByteString.copyFrom(data.consumeBytes(40))
                : KEYS.get(data.consumeInt(0, KEYS.size() - 1));
    }

    private static List<ByteString> keys(FuzzedDataProvider data) {
        List<ByteString> keys = new ArrayList<>();
        int n = data.consumeInt(0, 5);
        for (int i = 0; i < n; i++) {
            keys.add(key(data));
        }
        return keys;
    }

    /** A good block, one with a few bytes changed or cut short, or bytes of the fuzzer's own. */
    private static byte[] payload(FuzzedDataProvider data) {
        if (data.consumeBoolean()) {
            return data.consumeBytes(3000);
        }
        byte[] block = BLOCKS.get(data.consumeInt(0, BLOCKS.size() - 1)).clone();
        int changes = data.consumeInt(0, 3);
        for (int i = 0; i < changes; i++) {
            block[data.consumeInt(0, block.length - 1)] = data.consumeByte();
        }
        return data.consumeBoolean() ? Arrays.copyOf(block, data.consumeInt(0, block.length)) : block;
    }
}
