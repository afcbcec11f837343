package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.client.KvStoreClient;

/** One of three members crashes under concurrent puts and gets: nothing stored is lost, no call fails for good. */
class MemberFailureTest {
    private static final BlockLayout LAYOUT = BlockLayout.attention(CacheDType.F16, 16, 8, 128); // 64 KiB

    @Test
    void killingAMemberUnderLoadLosesNoBlockAndFailsNoRequest() throws Exception {
        try (TestCluster cluster = new TestCluster(3, c -> c.withBackupCount(1))) {
            KvStoreClient client = cluster.client();
            List<BlockKey> before = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 240, 1));
            List<byte[]> beforePayloads = KvStoreClusterTest.blocks(LAYOUT, before.size(), 1);
            client.put("alpha", before, beforePayloads);

            AtomicBoolean running = new AtomicBoolean(true);
            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            AtomicInteger calls = new AtomicInteger();
            List<BlockKey> during = KvStoreClusterTest.keys("alpha", KvStoreClusterTest.prompt(16 * 400, 2));
            List<byte[]> duringPayloads = KvStoreClusterTest.blocks(LAYOUT, during.size(), 2);
            AtomicInteger nextPut = new AtomicInteger();
            List<Future<?>> loaders = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int t = 0; t < 4; t++) {
                    int seed = t;
                    loaders.add(pool.submit(() -> {
                        SplittableRandom random = new SplittableRandom(seed);
                        while (running.get()) {
                            try {
                                if (random.nextBoolean()) {
                                    int from = random.nextInt(before.size() - 8);
                                    List<ByteBuffer> got = client.get("alpha", before.subList(from, from + 8));
                                    for (int i = 0; i < 8; i++) {
                                        assertNotNull(got.get(i), "block " + (from + i) + " lost");
                                        assertEquals(ByteBuffer.wrap(beforePayloads.get(from + i)), got.get(i));
                                    }
                                } else {
                                    int from = nextPut.getAndAdd(4);
                                    if (from + 4 <= during.size()) {
                                        client.put("alpha", during.subList(from, from + 4),
                                                duringPayloads.subList(from, from + 4));
                                    }
                                }
                                calls.incrementAndGet();
                            } catch (Throwable e) {
                                failures.add(e);
                            }
                        }
                    }));
                }
                Thread.sleep(1500);
                KvStoreMember victim = cluster.member(1);
                cluster.remove(victim);
                victim.kill();
                Thread.sleep(4000);
                running.set(false);
                for (Future<?> f : loaders) {
                    f.get();
                }
            }
            assertTrue(failures.isEmpty(), failures.size() + " calls failed, first: " + failures.peek());
            assertTrue(calls.get() > 20, "the load ran (" + calls.get() + " calls)");

            List<ByteBuffer> all = client.get("alpha", before);
            for (int i = 0; i < before.size(); i++) {
                assertEquals(ByteBuffer.wrap(beforePayloads.get(i)), all.get(i), "block " + i + " after the kill");
            }
            int written = Math.min(nextPut.get(), during.size()) / 4 * 4;
            List<ByteBuffer> late = client.get("alpha", during.subList(0, written));
            for (int i = 0; i < written; i++) {
                assertEquals(ByteBuffer.wrap(duringPayloads.get(i)), late.get(i), "block " + i + " put under load");
            }
        }
    }
}
