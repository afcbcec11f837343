package io.kvasir.kv.store;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.logging.Logger;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;

import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;

/**
 * A block's copies on other members, which keep it when its owner dies: the store's own
 * replication, in place of Hazelcast's synchronous backups of the block map (which serialized each
 * block into a backup operation and moved it through Hazelcast's packet path: a third to half of a
 * put's throughput). Hazelcast still backs up the index, which names the members holding copies.
 *
 * <p>A block's copies go to the {@code backup-count} members that follow its partition owner in
 * name order, so copies spread evenly and a put never waits on more than that many peers. Reads of
 * a copy happen only when the owner lacks the block (it died, or its eviction is in flight), and
 * every copy read is checked as a block before it is used.
 */
final class BlockReplication implements AutoCloseable {
    /** Member attribute: {@code host:port} of the member's {@link CopyReceiver}. */
    static final String ATTRIBUTE = "kvasir.copies";
    private static final Logger LOG = Logger.getLogger(BlockReplication.class.getName());

    private final HazelcastInstance hz;
    private final String self;
    private final int backupCount;
    private final BlockCopies copies;
    private final CopySender sender;

    BlockReplication(HazelcastInstance hz, String self, int backupCount, BlockCopies copies, CopySender sender) {
        this.hz = hz;
        this.self = self;
        this.backupCount = backupCount;
        this.copies = copies;
        this.sender = sender;
        hz.getUserContext().put(ReadOnMemberTask.COPIES_CONTEXT_KEY, copies);
    }

    /** Sends the block's copies; the names of the members that kept one (fewer when peers are gone). */
    List<String> copy(String hex, String tenant, ByteBuffer payload) {
        List<String> kept = new ArrayList<>(backupCount);
        for (Member peer : targets(hex)) {
            String name = BlockStore.nameOf(peer);
            if (peer.localMember()) {
                byte[] bytes = new byte[payload.remaining()];
                payload.duplicate().get(bytes);
                copies.add(hex, tenant, bytes);
                kept.add(name);
            } else if (peer.getAttribute(ATTRIBUTE) != null
                    && sender.send(peer.getAttribute(ATTRIBUTE), hex, tenant, payload)) {
                kept.add(name);
            }
        }
        if (kept.size() < backupCount && hz.getCluster().getMembers().size() > backupCount) {
            LOG.fine(() -> "block " + hex + ": " + kept.size() + " of " + backupCount + " copies made");
        }
        return kept;
    }

    /** The members after the key's owner in name order, {@code backup-count} of them, never the owner. */
    private List<Member> targets(String hex) {
        if (backupCount == 0) {
            return List.of();
        }
        Member owner = hz.getPartitionService().getPartition(hex).getOwner();
        List<Member> ring = new ArrayList<>(hz.getCluster().getMembers());
        ring.sort(Comparator.comparing(BlockStore::nameOf));
        int at = owner == null ? -1 : ring.indexOf(owner);
        List<Member> out = new ArrayList<>(backupCount);
        for (int i = 1; i <= ring.size() && out.size() < backupCount; i++) {
            Member m = ring.get(Math.floorMod(at + i, ring.size()));
            if (!m.equals(owner)) {
                out.add(m);
            }
        }
        return out;
    }

    /** A copy of the tenant's block from the first of {@code holders} that still has a sound one, or null. */
    byte[] find(String tenant, BlockKey key, List<String> holders) {
        for (String holder : holders) {
            byte[] payload = holder.equals(self) ? copies.get(key.hex(), tenant)
                    : ReadOnMemberTask.readOn(hz, holder, key, tenant, true);
            if (payload != null && sound(key, payload)) {
                return payload;
            }
        }
        return null;
    }

    private static boolean sound(BlockKey key, byte[] payload) {
        try {
            BlockCodec.decode(ByteBuffer.wrap(payload));
            return true;
        } catch (BlockFormatException e) {
            LOG.warning("the copy of block " + key.hex() + " is damaged (" + e.getMessage() + "); not used");
            return false;
        }
    }

    /** Copies this member holds for others. */
    BlockCopies copies() {
        return copies;
    }

    @Override
    public void close() {
        sender.close();
    }
}
