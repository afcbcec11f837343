package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.proto.kv.v1.Tier;

/** Host → SSD → host, budgets on both tiers, corruption and restart, on a real member. */
class TieringTest {
    private static final BlockLayout F16 = BlockLayout.attention(CacheDType.F16, 16, 4, 64); // 16 KiB of values
    private static final long MIB = 1 << 20;

    @Test
    void blocksSpillToSsdPastTheHostBudgetAndComeBackBitExact(@TempDir Path ssdDir) throws Exception {
        try (TestCluster cluster = new TestCluster(1, c -> c.withBackupCount(0).withHostBudget(MIB)
                .withSsd(ssdDir, 64 * MIB))) {
            KvStoreMember member = cluster.member(0);
            KvStoreClient client = cluster.client();
            for (BlockLayout layout : List.of(F16, BlockLayout.attention(CacheDType.F32, 16, 4, 64),
                    BlockLayout.mla(CacheDType.F16, 16, 4, 64, 16))) {
                List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 200,
                        layout.hashCode()));
                List<byte[]> payloads = KvStoreClusterTest.blocks(layout, keys.size(), layout.hashCode());
                for (int from = 0; from < keys.size(); from += 20) {
                    client.put("alpha", keys.subList(from, from + 20), payloads.subList(from, from + 20));
                }
                awaitSpills(member);
                var lookup = client.lookup("alpha", keys);
                long onSsd = lookup.getLocationsList().stream().filter(l -> l.getTier() == Tier.TIER_SSD).count();
                assertTrue(onSsd > 0, "a 1 MiB host tier cannot hold " + keys.size() + " blocks; none spilled");
                assertEquals(keys.size(), lookup.getCachedPrefixBlocks(), "every block is in some tier");

                long ssdHitsBefore = member.store().stats().get("ssd_hits");
                List<ByteBuffer> back = client.get("alpha", keys);
                for (int i = 0; i < keys.size(); i++) {
                    assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), layout + " block " + i);
                }
                assertTrue(member.store().stats().get("ssd_hits") - ssdHitsBefore >= onSsd / 2,
                        "blocks came back from the SSD tier");
                assertTrue(member.ssd().usedBytes() > 0);
            }
        }
    }

    @Test
    void ssdPastItsBudgetEvictsOldestAndStaysWithinIt(@TempDir Path ssdDir) throws Exception {
        long ssdBudget = MIB;
        try (TestCluster cluster = new TestCluster(1, c -> c.withBackupCount(0).withHostBudget(MIB)
                .withSsd(ssdDir, ssdBudget))) {
            KvStoreMember member = cluster.member(0);
            KvStoreClient client = cluster.client();
            List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 200, 3));
            List<byte[]> payloads = KvStoreClusterTest.blocks(F16, keys.size(), 3);
            for (int from = 0; from < keys.size(); from += 20) {
                client.put("alpha", keys.subList(from, from + 20), payloads.subList(from, from + 20));
            }
            awaitSpills(member);
            assertTrue(member.ssd().usedBytes() <= ssdBudget);
            var lookup = client.lookup("alpha", keys);
            int missing = (int) lookup.getLocationsList().stream().filter(l -> l.getTier() == Tier.TIER_MISSING).count();
            assertTrue(missing > 0, "3+ MiB of blocks cannot all fit 1 MiB host + 1 MiB SSD");
            // what is gone is old: the first quarter lost more than the last quarter
            int q = keys.size() / 4;
            long lostEarly = lookup.getLocationsList().subList(0, q).stream()
                    .filter(l -> l.getTier() == Tier.TIER_MISSING).count();
            long lostLate = lookup.getLocationsList().subList(3 * q, 4 * q).stream()
                    .filter(l -> l.getTier() == Tier.TIER_MISSING).count();
            assertTrue(lostEarly > lostLate, "lost " + lostEarly + " early vs " + lostLate + " late blocks");
            // whatever the index still lists comes back exactly; evicted blocks are misses, never wrong
            List<ByteBuffer> back = client.get("alpha", keys);
            for (int i = 0; i < keys.size(); i++) {
                if (back.get(i) != null) {
                    assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), "block " + i);
                }
            }
        }
    }

    @Test
    void corruptSsdFileIsAMissAndTheMemberKeepsServing(@TempDir Path ssdDir) throws Exception {
        try (TestCluster cluster = new TestCluster(1, c -> c.withBackupCount(0).withHostBudget(MIB)
                .withSsd(ssdDir, 64 * MIB))) {
            KvStoreMember member = cluster.member(0);
            KvStoreClient client = cluster.client();
            List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 200, 8));
            List<byte[]> payloads = KvStoreClusterTest.blocks(F16, keys.size(), 8);
            client.put("alpha", keys, payloads);
            awaitSpills(member);
            var lookup = client.lookup("alpha", keys);
            int victim = -1;
            for (int i = 0; i < keys.size() && victim < 0; i++) {
                if (lookup.getLocations(i).getTier() == Tier.TIER_SSD) {
                    victim = i;
                }
            }
            assertTrue(victim >= 0, "some block spilled");
            Path file = member.ssd().fileOf(keys.get(victim), "alpha");
            byte[] bytes = Files.readAllBytes(file);
            bytes[bytes.length / 2] ^= 0x10;
            Files.write(file, bytes);

            assertNull(client.get("alpha", List.of(keys.get(victim))).get(0), "a corrupt block is a miss");
            assertFalse(Files.exists(file), "and its file is gone");
            assertEquals(Tier.TIER_MISSING, client.lookup("alpha", List.of(keys.get(victim))).getLocations(0).getTier());
            // the member keeps serving everything else
            List<ByteBuffer> back = client.get("alpha", keys);
            for (int i = 0; i < keys.size(); i++) {
                if (i != victim) {
                    assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), "block " + i);
                }
            }
        }
    }

    @Test
    void restartedMemberRebuildsItsSsdTier(@TempDir Path ssdDir) throws Exception {
        List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 200, 9));
        List<byte[]> payloads = KvStoreClusterTest.blocks(F16, keys.size(), 9);
        int spilled;
        try (TestCluster cluster = new TestCluster(1, c -> c.withBackupCount(0).withHostBudget(MIB)
                .withSsd(ssdDir, 64 * MIB).withMemberName("kv-0"))) {
            KvStoreClient client = cluster.client();
            client.put("alpha", keys, payloads);
            awaitSpills(cluster.member(0));
            spilled = cluster.member(0).ssd().blocks();
            assertTrue(spilled > 0);
        } // the whole cluster goes: host memory is lost, the files stay

        try (TestCluster cluster = new TestCluster(1, c -> c.withBackupCount(0).withHostBudget(MIB)
                .withSsd(ssdDir, 64 * MIB).withMemberName("kv-0"))) {
            KvStoreClient client = cluster.client();
            assertEquals(spilled, cluster.member(0).ssd().blocks());
            var lookup = client.lookup("alpha", keys);
            List<ByteBuffer> back = client.get("alpha", keys);
            int found = 0;
            for (int i = 0; i < keys.size(); i++) {
                if (lookup.getLocations(i).getTier() == Tier.TIER_SSD) {
                    assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), "block " + i);
                    found++;
                } else {
                    assertNull(back.get(i));
                }
            }
            assertEquals(spilled, found, "every spilled block is found again after the restart");
        }
    }

    /**
     * A member lost for good takes its disk along: the survivors stop naming its blocks in the index
     * (lookups promised them, gets missed them) and stop charging their bytes to the tenant.
     */
    @Test
    void aMemberLostForGoodLeavesNoEntriesOrBytesBehind(@TempDir Path ssdDir) throws Exception {
        try (TestCluster cluster = new TestCluster(1, c -> c.withBackupCount(1).withHostBudget(MIB))) {
            KvStoreMember withDisk = cluster.startMember(cluster.config("kv-disk").withSsd(ssdDir, 64 * MIB));
            KvStoreClient client = cluster.client();
            List<BlockKey> keys = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 200, 31));
            List<byte[]> payloads = KvStoreClusterTest.blocks(F16, keys.size(), 31);
            client.put("alpha", keys, payloads);
            awaitSpills(withDisk);
            long onDisk = client.lookup("alpha", keys).getLocationsList().stream()
                    .filter(l -> l.getTier() == Tier.TIER_SSD && l.getMember().equals("kv-disk")).count();
            assertTrue(onDisk > 0, "some blocks went to kv-disk's SSD");

            cluster.remove(withDisk);
            withDisk.kill();
            KvStoreMember survivor = cluster.member(0);
            for (int i = 0; i < 300 && survivor.indexSweeps() == 0; i++) {
                Thread.sleep(100);
            }
            assertTrue(survivor.indexSweeps() > 0, "the survivor swept the index");
            var lookup = client.lookup("alpha", keys);
            List<ByteBuffer> back = client.get("alpha", keys);
            long held = 0;
            for (int i = 0; i < keys.size(); i++) {
                var loc = lookup.getLocations(i);
                assertFalse(loc.getMember().equals("kv-disk"), "block " + i + " still said to be on kv-disk");
                if (loc.getTier() != Tier.TIER_MISSING) {
                    assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), "block " + i + " is where the index says");
                    held += payloads.get(i).length;
                }
            }
            assertEquals(held, client.tenantUsage("alpha").getTenantBytes(),
                    "alpha is charged for what the store still holds, not for what went with kv-disk");
        }
    }

    /** Spills run on the member's spill thread after Hazelcast evicts: wait until they have settled. */
    static void awaitSpills(KvStoreMember member) throws InterruptedException {
        long last = -1;
        for (int i = 0; i < 100; i++) {
            Thread.sleep(100);
            long now = member.ssd().usedBytes();
            if (now == last) {
                return;
            }
            last = now;
        }
    }
}
