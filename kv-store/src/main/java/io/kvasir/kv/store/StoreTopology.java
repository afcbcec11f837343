package io.kvasir.kv.store;

import java.util.HashMap;
import java.util.Map;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.partition.Partition;

import io.kvasir.proto.kv.v1.StoreMember;
import io.kvasir.proto.kv.v1.TopologyResponse;

/** What a client needs to send each key to its owner: the members and the partition table, as one member sees them. */
final class StoreTopology {
    private StoreTopology() {
    }

    static TopologyResponse of(HazelcastInstance hz) {
        TopologyResponse.Builder b = TopologyResponse.newBuilder();
        Map<Member, Integer> indices = new HashMap<>();
        for (Member m : hz.getCluster().getMembers()) {
            indices.put(m, indices.size());
            String shared = m.getAttribute(BlockStore.SHARED_MEMORY_ATTRIBUTE);
            b.addMembers(StoreMember.newBuilder().setName(m.getAttribute(BlockStore.NAME_ATTRIBUTE))
                    .setGrpcAddress(m.getAttribute(BlockStore.GRPC_ATTRIBUTE))
                    .setSharedMemory(shared == null ? "" : shared));
        }
        int[] owners = new int[hz.getPartitionService().getPartitions().size()];
        for (Partition p : hz.getPartitionService().getPartitions()) {
            Member owner = p.getOwner();
            owners[p.getPartitionId()] = owner == null ? -1 : indices.getOrDefault(owner, -1);
        }
        for (int o : owners) {
            b.addPartitionOwners(o);
        }
        return b.build();
    }
}
