package io.kvasir.kv.client;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.hazelcast.internal.serialization.SerializationService;
import com.hazelcast.internal.serialization.impl.DefaultSerializationServiceBuilder;
import com.hazelcast.internal.util.HashUtil;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.StoreMember;
import io.kvasir.proto.kv.v1.TopologyRequest;
import io.kvasir.proto.kv.v1.TopologyResponse;

/**
 * The store's members and partition table as this client last heard them from a member's
 * {@code Topology} call: where to send each key, without joining the members' Hazelcast cluster
 * (which is private to them). A stale table costs a hop, never a wrong answer: a member that does
 * not own a key reads it through the cluster.
 */
final class StoreTopologyView {
    private static final Logger LOG = Logger.getLogger(StoreTopologyView.class.getName());
    /**
     * A key's partition, computed as the members compute it: Hazelcast hashes a key's serialized
     * form ({@code KvStoreClusterTest} checks that both agree for many keys).
     */
    private static final SerializationService KEYS = new DefaultSerializationServiceBuilder().build();

    record Snapshot(List<StoreMember> members, int[] owners) {
        static final Snapshot EMPTY = new Snapshot(List.of(), new int[0]);

        /** The gRPC address of the key's owner, or null when unknown. */
        String ownerOf(String hexKey) {
            if (owners.length == 0) {
                return null;
            }
            int owner = owners[partitionOf(hexKey, owners.length)];
            return owner < 0 || owner >= members.size() ? null : members.get(owner).getGrpcAddress();
        }

        StoreMember member(String grpcAddress) {
            for (StoreMember m : members) {
                if (m.getGrpcAddress().equals(grpcAddress)) {
                    return m;
                }
            }
            return null;
        }
    }

    private final List<String> seeds;
    private final Function<String, ManagedChannel> channels;
    private volatile Snapshot current = Snapshot.EMPTY;
    private volatile String lastFailure = "none tried";

    StoreTopologyView(List<String> seeds, Function<String, ManagedChannel> channels) {
        if (seeds.isEmpty()) {
            throw new IllegalArgumentException("no kv-store address given");
        }
        this.seeds = List.copyOf(seeds);
        this.channels = channels;
    }

    static int partitionOf(String hexKey, int partitions) {
        return HashUtil.hashToIndex(KEYS.toData(hexKey).getPartitionHash(), partitions);
    }

    Snapshot current() {
        return current;
    }

    /** Asks the known members, then the seeds, until one answers; false if none did. */
    boolean refresh() {
        Set<String> candidates = new LinkedHashSet<>();
        current.members().forEach(m -> candidates.add(m.getGrpcAddress()));
        candidates.addAll(seeds);
        StatusRuntimeException last = null;
        for (String address : candidates) {
            try {
                TopologyResponse t = KvStoreGrpc.newBlockingStub(channels.apply(address))
                        .withDeadlineAfter(5, TimeUnit.SECONDS).topology(TopologyRequest.getDefaultInstance());
                int[] owners = new int[t.getPartitionOwnersCount()];
                for (int p = 0; p < owners.length; p++) {
                    owners[p] = t.getPartitionOwners(p);
                }
                current = new Snapshot(List.copyOf(t.getMembersList()), owners);
                return true;
            } catch (StatusRuntimeException e) {
                last = e;
            }
        }
        lastFailure = String.valueOf(last == null ? null : last.getStatus());
        LOG.log(Level.FINE, () -> "no kv-store member answered Topology: " + lastFailure);
        return false;
    }

    /** Why the last {@link #refresh} found no member (a status), for the error a caller reports. */
    String lastFailure() {
        return lastFailure;
    }

    /** gRPC addresses of the members, or the seeds while none is known. */
    List<String> addresses() {
        List<String> out = new ArrayList<>();
        current.members().forEach(m -> out.add(m.getGrpcAddress()));
        return out.isEmpty() ? seeds : out;
    }
}
