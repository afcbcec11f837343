package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.kvasir.proto.kv.v1.BlockLocation;
import io.kvasir.proto.kv.v1.LookupResponse;
import io.kvasir.proto.kv.v1.Tier;

class PlacementTest {
    private static BlockLocation at(String... nodes) {
        return BlockLocation.newBuilder().setTier(nodes.length == 0 ? Tier.TIER_HOST : Tier.TIER_NODE)
                .addAllNodes(List.of(nodes)).build();
    }

    @Test
    void theNodeWithTheLongestLeadingRunWins() {
        LookupResponse where = LookupResponse.newBuilder()
                .addLocations(at("a", "b")).addLocations(at("b")).addLocations(at("a", "b")).addLocations(at("a"))
                .build();
        // a holds blocks 0, 2, 3 (run of 1: block 1 breaks it); b holds 0, 1, 2 (run of 3)
        assertEquals("b", KvAwarePlacement.longestResidentRun(where));
        assertNull(KvAwarePlacement.longestResidentRun(LookupResponse.newBuilder().addLocations(at()).build()));
        assertNull(KvAwarePlacement.longestResidentRun(LookupResponse.newBuilder()
                .addLocations(at()).addLocations(at("a")).build()), "a run must start at block 0");
    }

    @Test
    void thePreferredNodeUnlessTriedElseTheLeastBusy() {
        ManagedChannel c0 = NettyChannelBuilder.forTarget("127.0.0.1:1").usePlaintext().build();
        ManagedChannel c1 = NettyChannelBuilder.forTarget("127.0.0.1:2").usePlaintext().build();
        try {
            DecodeRoutes routes = new DecodeRoutes(List.of(c0, c1), List.of("n0", "n1"));
            routes.started(routes.pick(List.of(), "n1"));
            assertEquals("n0", routes.pick(List.of(), null).id(), "least busy");
            assertEquals("n1", routes.pick(List.of(), "n1").id(), "holds the prefix, busier or not");
            assertEquals("n0", routes.pick(List.of("n1"), "n1").id(), "tried already: the next");
            assertEquals("n0", routes.pick(List.of(), "unknown").id());
            assertNull(routes.pick(List.of("n0", "n1"), null));
        } finally {
            c0.shutdownNow();
            c1.shutdownNow();
        }
    }

    @Test
    void roundRobinTakesEachNodeInTurnWhateverItHolds() {
        ManagedChannel c0 = NettyChannelBuilder.forTarget("127.0.0.1:1").usePlaintext().build();
        ManagedChannel c1 = NettyChannelBuilder.forTarget("127.0.0.1:2").usePlaintext().build();
        try {
            DecodeRoutes routes = new DecodeRoutes(List.of(c0, c1), List.of("n0", "n1"))
                    .routing(DecodeRoutes.Routing.ROUND_ROBIN);
            assertEquals("n0", routes.pick(List.of(), "n1").id(), "the node holding the prefix is not preferred");
            assertEquals("n1", routes.pick(List.of(), "n1").id());
            assertEquals("n0", routes.pick(List.of(), null).id());
            assertEquals("n0", routes.pick(List.of("n1"), null).id(), "tried already: the next in turn");
            assertNull(routes.pick(List.of("n0", "n1"), null));
            assertEquals(DecodeRoutes.Routing.ROUND_ROBIN, DecodeRoutes.Routing.parse("round-robin"));
        } finally {
            c0.shutdownNow();
            c1.shutdownNow();
        }
    }
}
