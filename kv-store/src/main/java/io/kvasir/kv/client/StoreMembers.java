package io.kvasir.kv.client;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.hazelcast.internal.serialization.SerializationService;
import com.hazelcast.internal.serialization.impl.DefaultSerializationServiceBuilder;
import com.hazelcast.internal.util.HashUtil;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.StoreMember;
import io.kvasir.proto.kv.v1.TopologyRequest;
import io.kvasir.proto.kv.v1.TopologyResponse;
import io.kvasir.tls.GrpcTransport;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;

/**
 * Which member a client calls, and how it reaches it: the store's members and partition table as
 * last heard from a member's {@code Topology} call (asked again every few seconds and after a
 * failed call), one channel per member, and the fallback to other members. The client never
 * joins the members' Hazelcast cluster, which is private to them. A stale table costs a hop, never
 * a wrong answer: a member that does not own a key reads it through the cluster.
 */
final class StoreMembers implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StoreMembers.class.getName());
    private static final int ATTEMPTS = 4;
    /** How often the members and partition table are asked for again. */
    private static final long REFRESH_SECONDS = 2;
    /** How long {@link #awaitFirst} waits for a member to answer (members may still be starting). */
    private static final long CONNECT_SECONDS = 30;
    /**
     * A key's partition, computed as the members compute it: Hazelcast hashes a key's serialized
     * form ({@code NodeTierTest} checks that both agree for many keys).
     */
    private static final SerializationService KEYS = new DefaultSerializationServiceBuilder().build();

    /** The members and, for each partition, the index of its owner among them (-1: none yet). */
    private record Snapshot(List<StoreMember> members, int[] owners) {
        static final Snapshot EMPTY = new Snapshot(List.of(), new int[0]);
    }

    /** A call on one member's channel. */
    interface Call {
        void run(ManagedChannel channel) throws StatusRuntimeException;
    }

    private final List<String> seeds;
    /** This process's TLS identity, or null: plaintext channels. */
    private final Tls tls;
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final ScheduledExecutorService refresher = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("kv-topology").factory());
    private final AtomicBoolean refreshing = new AtomicBoolean();
    private final AtomicInteger roundRobin = new AtomicInteger();
    private volatile Snapshot current = Snapshot.EMPTY;
    private volatile String lastFailure = "none tried";

    StoreMembers(List<String> seeds, Tls tls) {
        if (seeds.isEmpty()) {
            throw new IllegalArgumentException("no kv-store address given");
        }
        this.seeds = List.copyOf(seeds);
        this.tls = tls;
    }

    static int partitionOf(String hexKey, int partitions) {
        return HashUtil.hashToIndex(KEYS.toData(hexKey).getPartitionHash(), partitions);
    }

    /**
     * Waits up to 30 s for a first member to answer, then keeps the table fresh in the background;
     * {@link IllegalStateException} if none answers.
     */
    void awaitFirst() {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CONNECT_SECONDS);
        while (!refresh()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no kv-store member answered at " + String.join(",", seeds)
                        + " within " + CONNECT_SECONDS + " s (last: " + lastFailure + ")");
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while connecting to the kv-store", e);
            }
        }
        refresher.scheduleWithFixedDelay(this::refresh, REFRESH_SECONDS, REFRESH_SECONDS, TimeUnit.SECONDS);
    }

    /** Asks the known members, then the seeds, until one answers; false if none did. */
    private boolean refresh() {
        Set<String> candidates = new LinkedHashSet<>(addresses());
        candidates.addAll(seeds);
        StatusRuntimeException last = null;
        for (String address : candidates) {
            try {
                TopologyResponse t = KvStoreGrpc.newBlockingStub(channel(address))
                        .withDeadlineAfter(5, TimeUnit.SECONDS).topology(TopologyRequest.getDefaultInstance());
                current = new Snapshot(List.copyOf(t.getMembersList()),
                        t.getPartitionOwnersList().stream().mapToInt(Integer::intValue).toArray());
                return true;
            } catch (StatusRuntimeException e) {
                last = e;
            }
        }
        lastFailure = String.valueOf(last == null ? null : last.getStatus());
        LOG.log(Level.FINE, () -> "no kv-store member answered Topology: " + lastFailure);
        return false;
    }

    /** Runs {@code task} on the refresher, first with the next refresh, then every {@code seconds}. */
    void every(long seconds, Runnable task) {
        refresher.scheduleWithFixedDelay(task, REFRESH_SECONDS, seconds, TimeUnit.SECONDS);
    }

    /** After a failed call: the member may be gone, ask for the members and owners again (once at a time). */
    private void refreshSoon() {
        if (refreshing.compareAndSet(false, true)) {
            refresher.execute(() -> {
                try {
                    refresh();
                } finally {
                    refreshing.set(false);
                }
            });
        }
    }

    /** gRPC addresses of the members, or the seeds while none is known. */
    List<String> addresses() {
        List<String> out = new ArrayList<>();
        current.members().forEach(m -> out.add(m.getGrpcAddress()));
        return out.isEmpty() ? seeds : out;
    }

    /** The indices of {@code keys} by the gRPC address of their owner (any member where none is known). */
    Map<String, List<Integer>> byOwner(List<BlockKey> keys) {
        Snapshot table = current;
        Map<String, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < keys.size(); i++) {
            String owner = null;
            if (table.owners().length > 0) {
                int o = table.owners()[partitionOf(keys.get(i).hex(), table.owners().length)];
                owner = o < 0 || o >= table.members().size() ? null : table.members().get(o).getGrpcAddress();
            }
            groups.computeIfAbsent(owner == null ? any() : owner, a -> new ArrayList<>()).add(i);
        }
        return groups;
    }

    /** The shared-memory arena a member announced (directory and token), or null. */
    String sharedMemoryOf(String grpcAddress) {
        for (StoreMember m : current.members()) {
            if (m.getGrpcAddress().equals(grpcAddress)) {
                return m.getSharedMemory().isEmpty() ? null : m.getSharedMemory();
            }
        }
        return null;
    }

    /** A member, in turn. */
    String any() {
        List<String> members = addresses();
        return members.get(Math.floorMod(roundRobin.getAndIncrement(), members.size()));
    }

    private String other(String failed) {
        List<String> members = new ArrayList<>(addresses());
        members.remove(failed);
        if (members.isEmpty()) {
            return failed; // the only one: try again (it may be restarting)
        }
        Collections.rotate(members, roundRobin.getAndIncrement());
        return members.get(0);
    }

    ManagedChannel channel(String address) {
        return channels.computeIfAbsent(address, a -> GrpcTransport.channel(a, tls, Role.KV_STORE)
                .maxInboundMessageSize(FetchedBlockMarshaller.MAX_MESSAGE_BYTES)
                .flowControlWindow(32 << 20)
                .build());
    }

    /** Tries the preferred member, then the others in turn; bad input is never retried. */
    void withFallback(String preferred, String what, Call call) throws KvStoreException {
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
                refreshSoon();
                target = other(target);
            }
        }
        throw new KvStoreException(last, what + " after " + ATTEMPTS + " attempts");
    }

    private static boolean retryable(Status.Code code) {
        return code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED
                || code == Status.Code.CANCELLED || code == Status.Code.UNKNOWN || code == Status.Code.INTERNAL
                || code == Status.Code.ABORTED;
    }

    @Override
    public void close() {
        refresher.shutdownNow();
        channels.values().forEach(ManagedChannel::shutdownNow);
    }
}
