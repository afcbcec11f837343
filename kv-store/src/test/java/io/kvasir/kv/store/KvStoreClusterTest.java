package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.Files;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import com.google.protobuf.ByteString;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.block.KvBlock;
import io.kvasir.kv.block.TestBlocks;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.proto.kv.v1.GetRequest;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.LookupResponse;
import io.kvasir.proto.kv.v1.Tier;

/** Three real members on loopback (backup count 1) and the client nodes use. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KvStoreClusterTest {
    private static final String MODEL = "test-model";
    private static final BlockLayout F16 = BlockLayout.attention(CacheDType.F16, 16, 4, 64);

    private TestCluster cluster;
    private KvStoreClient client;

    @BeforeAll
    void start() {
        cluster = new TestCluster(3, c -> c);
        client = cluster.client();
    }

    @AfterAll
    void stop() {
        cluster.close();
    }

    static int[] prompt(int n, int seed) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + (i * 7919 + seed) % 31997;
        }
        return t;
    }

    static List<BlockKey> keys(String tenant, int[] tokens) {
        return BlockKeys.chain(BlockKeys.root(MODEL, BlockLayout.VERSION, CacheDType.F32, tenant.getBytes(StandardCharsets.UTF_8)),
                tokens, 16);
    }

    static List<byte[]> blocks(BlockLayout layout, int n, long seed) {
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(BlockCodec.encode(TestBlocks.random(MODEL, layout, seed + i)));
        }
        return out;
    }

    @Test
    void putThenGetIsBitExactForEveryLayout() throws Exception {
        int seed = 1;
        for (BlockLayout layout : List.of(F16, BlockLayout.attention(CacheDType.F32, 16, 3, 48),
                BlockLayout.mla(CacheDType.F16, 16, 4, 64, 16), BlockLayout.attention(CacheDType.BF16, 16, 2, 32))) {
            List<BlockKey> keys = keys("alpha", prompt(16 * 12, seed++));
            List<byte[]> payloads = blocks(layout, keys.size(), seed * 100L);
            client.put("alpha", keys, payloads);
            List<ByteBuffer> back = client.get("alpha", keys);
            for (int i = 0; i < keys.size(); i++) {
                assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), layout + " block " + i);
                KvBlock decoded = BlockCodec.decodeFor(back.get(i), MODEL, layout);
                KvBlock original = BlockCodec.decode(ByteBuffer.wrap(payloads.get(i)));
                assertEquals(original.column(0), decoded.column(0));
                assertEquals(original.column(1), decoded.column(1));
            }
        }
    }

    @Test
    void aGetOfLayersAnswersEachBlocksSliceOfThem() throws Exception {
        BlockLayout layout = BlockLayout.attention(CacheDType.F16, 16, 5, 64);
        List<BlockKey> keys = keys("alpha", prompt(16 * 6, 9191));
        List<byte[]> payloads = blocks(layout, keys.size(), 7700);
        client.put("alpha", keys.subList(0, 5), payloads.subList(0, 5)); // the last one is missing
        Tier[] tiers = new Tier[keys.size()];
        List<ByteBuffer> back = client.getLayers("alpha", keys, tiers, 1, 3);
        for (int i = 0; i < 5; i++) {
            assertEquals(ByteBuffer.wrap(BlockCodec.sliceLayers(ByteBuffer.wrap(payloads.get(i)), 1, 3)), back.get(i));
            BlockCodec.decodeFor(back.get(i), MODEL, layout.slice(1, 3));
            assertEquals(Tier.TIER_HOST, tiers[i]);
        }
        assertEquals(null, back.get(5));
        var e = assertThrows(KvStoreException.class, () -> client.getLayers("alpha", keys, new Tier[6], 3, 3));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("outside a block of 5 layers"), e.getMessage());
        assertEquals(ByteBuffer.wrap(payloads.get(0)), client.get("alpha", keys).get(0), "the member serves on");
    }

    @Test
    void aBlockSerializedByHandIsWhatHazelcastWouldWriteAndReads() throws Exception {
        var serialization = ((com.hazelcast.spi.impl.SerializationServiceSupport) cluster.member(0).hazelcast())
                .getSerializationService();
        for (String tenant : List.of("alpha", "t\u00e9nant-\u4e2d", "x".repeat(128))) {
            for (int size : new int[] {0, 1, 4097, 600_000}) {
                byte[] payload = new byte[size];
                new java.util.SplittableRandom(size).nextBytes(payload);
                var mine = StoredBlock.serialized(serialization, tenant, ByteBuffer.wrap(payload));
                assertArrayEquals(serialization.toData(new StoredBlock(tenant, payload)).toByteArray(),
                        mine.toByteArray(), tenant + ", " + size + " bytes");
                StoredBlock back = serialization.toObject(mine);
                assertEquals(tenant, back.tenant());
                assertArrayEquals(payload, back.payload());
                assertEquals(ByteBuffer.wrap(payload), StoredBlock.payloadOf(mine, size));
            }
        }
    }

    @Test
    void aReaderOnTheMembersHostGetsTheSameBytesThroughSharedMemoryAsThroughGrpc() throws Exception {
        List<BlockKey> keys = keys("alpha", prompt(16 * 20, 4242));
        List<byte[]> payloads = blocks(F16, keys.size() - 2, 4242);
        client.put("alpha", keys.subList(0, payloads.size()), payloads); // the last two are never stored
        long sharedBefore = client.sharedMemoryReads();
        List<ByteBuffer> shared = client.get("alpha", keys);
        KvStoreClient grpcOnly = cluster.client().withoutSharedMemory();
        List<ByteBuffer> viaGrpc = grpcOnly.get("alpha", keys);
        for (int i = 0; i < keys.size(); i++) {
            if (i < payloads.size()) {
                assertEquals(ByteBuffer.wrap(payloads.get(i)), shared.get(i), "block " + i + " through shared memory");
                assertEquals(ByteBuffer.wrap(payloads.get(i)), viaGrpc.get(i), "block " + i + " through gRPC");
            } else {
                assertNull(shared.get(i));
                assertNull(viaGrpc.get(i));
            }
        }
        assertEquals(payloads.size(), client.sharedMemoryReads() - sharedBefore, "every found block from the arena");
        assertEquals(0, grpcOnly.sharedMemoryReads());
        assertNull(client.get("beta", keys.subList(0, 1)).getFirst(), "another tenant's block is not found in the arena");
    }

    @Test
    void putsGoIntoTheArenaOnlyOnceAReaderOnTheMembersHostHasSaidSo() throws Exception {
        try (TestCluster one = new TestCluster(1, c -> c.withBackupCount(0))) {
            SharedArena arena = one.member(0).sharedArena();
            assumeTrue(arena != null, "no /dev/shm here");
            KvStoreClient writer = one.client().withoutSharedMemory(); // as if on another host: it never says
            List<BlockKey> before = keys("alpha", prompt(16 * 4, 41));
            writer.put("alpha", before, blocks(F16, before.size(), 41));
            for (BlockKey k : before) {
                assertNull(arena.find(k, "alpha"), "no reader on this host: nothing copied into the arena");
            }
            one.client(); // a reader here: says so with its first background refresh
            for (int i = 0; i < 100 && !arena.readersNearby(); i++) {
                Thread.sleep(100);
            }
            List<BlockKey> after = keys("alpha", prompt(16 * 4, 42));
            writer.put("alpha", after, blocks(F16, after.size(), 42));
            for (BlockKey k : after) {
                assertNotNull(arena.find(k, "alpha"), "a reader on this host: the put copied the block in");
            }
        }
    }

    @Test
    void lookupCountsTheCachedPrefixAndNamesWhereBlocksLive() throws Exception {
        int[] tokens = prompt(16 * 10, 77);
        List<BlockKey> keys = keys("alpha", tokens);
        client.put("alpha", keys.subList(0, 6), blocks(F16, 6, 500));
        client.put("alpha", keys.subList(7, 8), blocks(F16, 1, 600)); // a gap at 6
        LookupResponse answer = client.lookup("alpha", keys);
        assertEquals(6, answer.getCachedPrefixBlocks());
        assertEquals(10, answer.getLocationsCount());
        var members = new HashSet<>(cluster.members().stream().map(KvStoreMember::name).toList());
        for (int i = 0; i < 10; i++) {
            var loc = answer.getLocations(i);
            boolean stored = i < 6 || i == 7;
            assertEquals(stored ? Tier.TIER_HOST : Tier.TIER_MISSING, loc.getTier(), "block " + i);
            if (stored) {
                assertTrue(members.contains(loc.getMember()), loc.getMember());
            }
        }
    }

    @Test
    void twoTenantsSamePromptShareNothing() throws Exception {
        int[] tokens = prompt(16 * 4, 5);
        List<BlockKey> a = keys("tenant-a", tokens);
        List<BlockKey> b = keys("tenant-b", tokens);
        for (int i = 0; i < a.size(); i++) {
            assertNotEquals(a.get(i), b.get(i));
        }
        client.put("tenant-a", a, blocks(F16, a.size(), 900));
        assertEquals(0, client.lookup("tenant-b", b).getCachedPrefixBlocks());
        assertTrue(client.get("tenant-b", b).stream().allMatch(x -> x == null));
        // even holding tenant A's keys, tenant B gets nothing
        assertEquals(0, client.lookup("tenant-b", a).getCachedPrefixBlocks());
        assertTrue(client.get("tenant-b", a).stream().allMatch(x -> x == null));
        assertEquals(a.size(), client.lookup("tenant-a", a).getCachedPrefixBlocks());
    }

    @Test
    void badRequestsAreRefusedWithAReasonAndTheMemberKeepsServing() throws Exception {
        List<BlockKey> keys = keys("alpha", prompt(32, 11));
        byte[] good = blocks(F16, 1, 1).get(0);
        byte[] corrupt = good.clone();
        corrupt[corrupt.length - 50] ^= 1;
        var e = assertThrows(KvStoreException.class,
                () -> client.put("alpha", List.of(keys.get(0)), List.of(corrupt)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("checksum mismatch") && e.getMessage().contains(keys.get(0).hex()),
                e.getMessage());

        e = assertThrows(KvStoreException.class,
                () -> client.put("alpha", List.of(keys.get(0)), List.of("not arrow".getBytes())));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());

        e = assertThrows(KvStoreException.class, () -> client.put("", List.of(keys.get(0)), List.of(good)));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("tenant"), e.getMessage());

        ManagedChannel raw = NettyChannelBuilder.forTarget(cluster.member(0).grpcAddress()).usePlaintext().build();
        try {
            var stub = KvStoreGrpc.newBlockingStub(raw).withDeadlineAfter(10, TimeUnit.SECONDS);
            var bad = assertThrows(StatusRuntimeException.class, () -> stub.get(GetRequest.newBuilder()
                    .setTenant("alpha").addKeys(ByteString.copyFromUtf8("short")).build()).hasNext());
            assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
            assertTrue(bad.getStatus().getDescription().contains("key 0 is 5 bytes"), bad.getStatus().toString());
        } finally {
            raw.shutdownNow();
        }
        assertEquals(0, client.lookup("alpha", keys).getCachedPrefixBlocks(), "nothing of the bad puts was stored");
        client.put("alpha", List.of(keys.get(0)), List.of(good));
        assertArrayEquals(good, bytes(client.get("alpha", List.of(keys.get(0))).get(0)));
    }

    @Test
    void oversizedBlockIsRefused() throws Exception {
        BlockLayout huge = BlockLayout.attention(CacheDType.F32, 16, 64, 16384); // 128 MiB > 64 MiB limit
        List<BlockKey> keys = keys("alpha", prompt(16, 99));
        byte[] payload = BlockCodec.encode(TestBlocks.random(MODEL, huge, 1));
        var e = assertThrows(KvStoreException.class, () -> client.put("alpha", keys, List.of(payload)));
        assertTrue(e.code() == Status.Code.INVALID_ARGUMENT || e.code() == Status.Code.RESOURCE_EXHAUSTED,
                e.getMessage());
        assertNull(client.get("alpha", keys).get(0));
    }

    static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
