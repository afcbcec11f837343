package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import javax.net.ssl.SSLContext;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.hazelcast.cluster.Member;
import com.hazelcast.map.IMap;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.tls.DevCertificates;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;
import io.kvasir.tls.TlsFiles;

/** The store's own replication: copies on the members after each block's owner, through two crashes in a row. */
class BlockReplicationTest {
    private static final BlockLayout LAYOUT = BlockLayout.attention(CacheDType.F16, 16, 4, 64);
    private static final byte[] KEY = new byte[BlockKey.BYTES];

    @Test
    void copiesFollowTheOwnerAndAreRemadeAfterACrashSoASecondCrashLosesNothing() throws Exception {
        try (TestCluster cluster = new TestCluster(4, c -> c.withBackupCount(1))) {
            awaitSettled(cluster);
            KvStoreClient client = cluster.client();
            List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 64, 5));
            List<byte[]> payloads = KvStoreClusterTest.blocks(LAYOUT, keys.size(), 5);
            client.put("alpha", keys, payloads);
            assertCopied(cluster, keys, payloads);

            for (int crash = 0; crash < 2; crash++) {
                KvStoreMember victim = cluster.member(0);
                cluster.remove(victim);
                int[] sweepsBefore = cluster.members().stream().mapToInt(KvStoreMember::indexSweeps).toArray();
                victim.kill();
                List<ByteBuffer> back = client.get("alpha", keys);
                for (int i = 0; i < keys.size(); i++) {
                    assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), "crash " + crash + ", block " + i);
                }
                for (int m = 0; m < sweepsBefore.length; m++) {
                    for (int i = 0; i < 300 && cluster.member(m).indexSweeps() == sweepsBefore[m]; i++) {
                        Thread.sleep(100);
                    }
                }
                assertCopied(cluster, keys, payloads); // the sweep after the crash made the lost copies again
            }
        }
    }

    /**
     * Partitions move for a while after members join: a block put meanwhile may land on the member
     * holding its copy until the sweep after the last arrival (which every member but the last runs)
     * copies it again. Waits for that, so that the copies are checked where they settle.
     */
    private static void awaitSettled(TestCluster cluster) throws InterruptedException {
        List<KvStoreMember> members = cluster.members();
        for (int i = 0; i < 300; i++) {
            boolean swept = members.subList(0, members.size() - 1).stream().allMatch(m -> m.indexSweeps() > 0);
            if (swept && members.getFirst().hazelcast().getPartitionService().isClusterSafe()) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the cluster did not settle in 30 s");
    }

    /** Each block's entry names one live member other than its owner, and that member holds the same bytes. */
    private static void assertCopied(TestCluster cluster, List<BlockKey> keys, List<byte[]> payloads) {
        var hz = cluster.member(0).hazelcast();
        IMap<String, BlockLocation> index = hz.getMap(BlockStore.INDEX);
        Set<String> owners = new HashSet<>();
        for (int i = 0; i < keys.size(); i++) {
            String hex = keys.get(i).hex();
            Member owner = hz.getPartitionService().getPartition(hex).getOwner();
            BlockLocation loc = index.get(hex);
            assertEquals(1, loc.copies().size(), "block " + i + ": " + loc);
            String holder = loc.copies().getFirst();
            assertNotEquals(BlockStore.nameOf(owner), holder, "block " + i + " is copied on its own owner");
            KvStoreMember member = cluster.members().stream().filter(m -> m.name().equals(holder)).findFirst()
                    .orElseThrow(() -> new AssertionError("a copy is on " + holder + ", gone"));
            assertArrayEquals(payloads.get(i), member.replicationCopies().get(hex, "alpha"), "copy of block " + i);
            owners.add(BlockStore.nameOf(owner));
        }
        assertTrue(owners.size() > 1, "the blocks spread over the members");
    }

    @Test
    void theReplicationPortRefusesBadFramesAndStrangers() throws Exception {
        BlockCopies copies = new BlockCopies(1 << 20);
        try (CopyReceiver receiver = new CopyReceiver(new InetSocketAddress("127.0.0.1", 0), null, a -> true, copies,
                4096)) {
            assertEquals(CopyReceiver.REFUSED, exchange(receiver, 0x12345678, "alpha", 10), "bad magic");
            assertEquals(CopyReceiver.REFUSED, exchange(receiver, CopyReceiver.MAGIC, " ", 10), "a blank tenant");
            assertEquals(CopyReceiver.REFUSED, exchange(receiver, CopyReceiver.MAGIC, "alpha", 4097), "too long");
            assertEquals(CopyReceiver.REFUSED, exchange(receiver, CopyReceiver.MAGIC, "alpha", -1), "negative");
            assertEquals(0, copies.size(), "nothing refused was kept");
            assertEquals(CopyReceiver.KEPT, exchange(receiver, CopyReceiver.MAGIC, "alpha", 100), "a sound frame");
            assertEquals(100, copies.get("00".repeat(BlockKey.BYTES), "alpha").length);
            assertNull(copies.get("00".repeat(BlockKey.BYTES), "beta"), "a copy is its tenant's only");
        }
        try (CopyReceiver closed = new CopyReceiver(new InetSocketAddress("127.0.0.1", 0), null, a -> false, copies,
                4096)) {
            assertEquals(-1, exchange(closed, CopyReceiver.MAGIC, "alpha", 100), "a caller at no member's address");
        }
    }

    @Test
    void underTlsOnlyKvStoreCertificatesMayCopy(@TempDir Path dir) throws Exception {
        DevCertificates.write(dir, List.of("127.0.0.1"), Duration.ofDays(1));
        try (Tls store = Tls.load(TlsFiles.inDir(dir, Role.KV_STORE), Role.KV_STORE);
                Tls decode = Tls.load(TlsFiles.inDir(dir, Role.DECODE), Role.DECODE)) {
            BlockCopies copies = new BlockCopies(1 << 20);
            SSLContext members = store.peerContext(Role.KV_STORE);
            try (CopyReceiver receiver = new CopyReceiver(new InetSocketAddress("127.0.0.1", 0), members, a -> false,
                    copies, 4096);
                    CopySender asMember = new CopySender(members);
                    CopySender asDecode = new CopySender(decode.peerContext(Role.KV_STORE))) {
                String at = "127.0.0.1:" + receiver.port();
                String hex = "11".repeat(BlockKey.BYTES);
                assertFalse(asDecode.send(at, hex, "alpha", ByteBuffer.allocate(64)), "a decode node's certificate");
                assertEquals(0, copies.size());
                assertTrue(asMember.send(at, hex, "alpha", ByteBuffer.allocate(64)), "a member's certificate");
                assertTrue(asMember.send(at, hex, "alpha", ByteBuffer.allocate(64)), "again, on the kept connection");
                assertEquals(64, copies.get(hex, "alpha").length);
            }
        }
    }

    /** Sends one frame by hand; the acknowledgement byte, or -1 when the connection closed without one. */
    private static int exchange(CopyReceiver receiver, int magic, String tenant, int length) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", receiver.port()), 2000);
            s.setSoTimeout(10_000);
            try {
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeInt(magic);
                out.write(KEY);
                out.writeUTF(tenant);
                out.writeInt(length);
                if (length > 0 && length <= 4096) {
                    out.write(new byte[length]);
                }
                out.flush();
                return s.getInputStream().read();
            } catch (IOException e) {
                return -1; // closed on us: a broken pipe while writing, or a reset while reading
            }
        }
    }
}
