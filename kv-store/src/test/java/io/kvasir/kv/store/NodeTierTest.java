package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.client.KvStoreClient;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.kvasir.proto.kv.v1.AnnounceRequest;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.LookupResponse;
import io.kvasir.proto.kv.v1.NodeStatus;
import io.kvasir.proto.kv.v1.Tier;

/** Nodes' local tiers: bounded, announced, and visible to lookups until the node goes away. */
class NodeTierTest {
    private static final BlockLayout LAYOUT = BlockLayout.attention(CacheDType.F16, 16, 4, 64);

    @Test
    void nodesAnnounceWhatTheyHoldAndLookupsSeeIt() throws Exception {
        try (TestCluster cluster = new TestCluster(2, c -> c)) {
            KvStoreClient nodeA = cluster.client();
            KvStoreClient router = cluster.client();
            List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 6, 4));
            nodeA.put("alpha", keys, KvStoreClusterTest.blocks(LAYOUT, keys.size(), 4));
            // the node holds the last four blocks in its own pool
            nodeA.announce(new NodeHeartbeat("decode-0", "decode", "127.0.0.1:9000", 0, 0, 0, 0,
                    keys.subList(2, 6).stream().map(k -> new NodeHeartbeat.Resident("alpha", k)).toList()), 10);

            LookupResponse seen = awaitNodes(router, keys, 4);
            for (int i = 0; i < keys.size(); i++) {
                var loc = seen.getLocations(i);
                assertEquals(Tier.TIER_HOST, loc.getTier(), "the store has every block too");
                assertEquals(i >= 2 ? List.of("decode-0") : List.of(), loc.getNodesList(), "block " + i);
            }
            assertEquals(List.of(), router.lookup("beta", keys).getLocations(5).getNodesList(),
                    "another tenant does not see the node's blocks");
            // a node going away withdraws its heartbeat
            nodeA.withdraw("decode-0");
            assertEquals(0, awaitNodes(router, keys, 0).getLocations(5).getNodesCount());
        }
    }

    @Test
    void aBlockOnlyANodeHoldsIsCachedAtThatNode() throws Exception {
        try (TestCluster cluster = new TestCluster(1, c -> c)) {
            KvStoreClient client = cluster.client();
            List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 2, 6));
            client.announce(new NodeHeartbeat("prefill-3", "prefill", "127.0.0.1:9100", 10, 10, 0, 0,
                    List.of(new NodeHeartbeat.Resident("alpha", keys.get(0)))), 30);
            LookupResponse seen = awaitNodes(client, keys, 1);
            assertEquals(Tier.TIER_NODE, seen.getLocations(0).getTier());
            assertEquals(List.of("prefill-3"), seen.getLocations(0).getNodesList());
            assertEquals(1, seen.getCachedPrefixBlocks());
            assertEquals("127.0.0.1:9100", client.nodes().get(0).address());
        }
    }

    @Test
    void aMalformedHeartbeatIsRefusedNamingItsFieldAndTheMemberKeepsServing() throws Exception {
        try (TestCluster cluster = new TestCluster(1, c -> c)) {
            KvStoreClient client = cluster.client();
            var channel = io.grpc.ManagedChannelBuilder.forTarget(cluster.member(0).grpcAddress()).usePlaintext().build();
            var stub = KvStoreGrpc.newBlockingStub(channel);
            NodeStatus good = new NodeHeartbeat("decode-1", "decode", "127.0.0.1:9200", 1, 2, 0, 0, List.of()).toProto();
            record Bad(String field, AnnounceRequest request) {
            }
            for (Bad bad : List.of(
                    new Bad("ttl_seconds", AnnounceRequest.newBuilder().setNode(good).setTtlSeconds(0).build()),
                    new Bad("ttl_seconds", AnnounceRequest.newBuilder().setNode(good).setTtlSeconds(-1).build()),
                    new Bad("node_id", AnnounceRequest.newBuilder().setTtlSeconds(5)
                            .setNode(good.toBuilder().setNodeId("")).build()),
                    new Bad("resident_keys", AnnounceRequest.newBuilder().setTtlSeconds(5)
                            .setNode(good.toBuilder().addResidentTenants("alpha")).build()),
                    new Bad("running", AnnounceRequest.newBuilder().setTtlSeconds(5)
                            .setNode(good.toBuilder().setRunning(-5)).build()))) {
                var e = assertThrows(StatusRuntimeException.class, () -> stub.announce(bad.request()));
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), bad.field());
                assertTrue(e.getStatus().getDescription().contains(bad.field()), e.getStatus().getDescription());
            }
            assertEquals(List.of(), client.nodes(), "nothing was announced");
            stub.announce(AnnounceRequest.newBuilder().setNode(good).setTtlSeconds(5).build());
            assertEquals("127.0.0.1:9200", client.nodes().get(0).address());
            channel.shutdownNow();
        }
    }

    @Test
    void theClientSendsEveryKeyToTheOwnerTheMembersNameWithoutJoiningHazelcast() throws Exception {
        try (TestCluster cluster = new TestCluster(2, c -> c)) {
            KvStoreClient client = cluster.client();
            List<BlockKey> stored = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 32, 2));
            client.put("alpha", stored, KvStoreClusterTest.blocks(LAYOUT, stored.size(), 2));
            assertEquals(stored.size(), client.get("alpha", stored).stream().filter(b -> b != null).count());
            client.nodes();
            for (KvStoreMember m : cluster.members()) {
                assertEquals(0, m.hazelcast().getClientService().getConnectedClients().size(), "Hazelcast clients");
                assertTrue(m.store().stats().get("puts") > 0, "each member got its own keys: " + m.name());
            }
            var partitions = cluster.member(0).hazelcast().getPartitionService();
            int count = partitions.getPartitions().size();
            for (BlockKey key : KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 500, 9))) {
                assertEquals(partitions.getPartition(key.hex()).getPartitionId(),
                        io.kvasir.kv.client.KvStoreClientAccess.partitionOf(key.hex(), count), key.hex());
            }
        }
    }

    /** Heartbeats replicate asynchronously: wait until the lookup shows {@code nodes} node-held blocks. */
    private static LookupResponse awaitNodes(KvStoreClient client, List<BlockKey> keys, int nodes) throws Exception {
        LookupResponse r = null;
        for (int i = 0; i < 100; i++) {
            r = client.lookup("alpha", keys);
            long held = r.getLocationsList().stream().filter(l -> l.getNodesCount() > 0).count();
            if (held == nodes) {
                return r;
            }
            Thread.sleep(100);
        }
        return r;
    }
}
