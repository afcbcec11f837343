package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.CacheDType;

/** The member's shared-memory ring and index, read the way a reader on the host reads them: through a mapping of its own. */
class SharedArenaTest {
    private static final int BLOCK = 200 << 10;

    @Test
    void readersFindTheBytesWrittenThroughTheIndexAndNothingOnceTheRingOverwroteThem() throws Exception {
        SharedArena arena = oneMebibyteArena();
        try (Arena readerArena = Arena.ofConfined()) {
            MemorySegment reader = mapReadOnly(arena.file(), readerArena);
            SharedArena.Slot a = arena.add(key(1), "alpha", block(1));
            arena.add(key(2), "alpha", block(2));
            assertEquals(ByteBuffer.wrap(block(1)), read(reader, key(1), "alpha"));
            assertEquals(ByteBuffer.wrap(block(2)), read(reader, key(2), "alpha"));
            assertEquals(ByteBuffer.wrap(block(1)), SharedArena.copyOut(reader, a.position(), a.length()));
            assertNull(read(reader, key(1), "beta"), "a tenant finds only its own blocks");
            // positions a member's answer could carry that are no block's place: misses, never reads outside the ring
            long capacity = arena.capacity();
            assertNull(SharedArena.copyOut(reader, -1, a.length()), "a negative position");
            assertNull(SharedArena.copyOut(reader, capacity - 10, 100), "a block never runs past the ring's end");
            assertNull(SharedArena.copyOut(reader, Long.MAX_VALUE - 5, 100), "a position past any the ring had");
            assertNull(read(reader, key(99), "alpha"), "never written");
            assertEquals(a, arena.find(key(1), "alpha"));
            assertNull(arena.find(key(1), "beta"));

            for (int i = 3; i <= 7; i++) { // 7 x 200 KiB laps a 1 MiB ring
                arena.add(key(i), "alpha", block(i));
            }
            assertNull(SharedArena.copyOut(reader, a.position(), a.length()), "overwritten: the reader must not use it");
            assertNull(read(reader, key(1), "alpha"), "the index no longer answers an overwritten block");
            assertNull(arena.find(key(1), "alpha"));
            assertEquals(ByteBuffer.wrap(block(7)), read(reader, key(7), "alpha"));
            assertNull(arena.add(key(8), "alpha", new byte[(int) arena.capacity() / 4 + 1]), "over a quarter of the ring");

            arena.add(key(1), "alpha", block(1)); // written again: found again, at its new place
            assertEquals(ByteBuffer.wrap(block(1)), read(reader, key(1), "alpha"));
        } finally {
            arena.close();
        }
        assertFalse(Files.exists(arena.file().getParent()), "the member's directory goes with it");
    }

    @Test
    void blocksInTheOldestQuarterAreNotAnsweredSoAReaderHasTimeToCopyThem() {
        SharedArena arena = oneMebibyteArena();
        try {
            arena.add(key(1), "alpha", block(1));
            arena.add(key(2), "alpha", block(2));
            arena.add(key(3), "alpha", block(3));
            assertNotNull(arena.find(key(1), "alpha"));
            arena.add(key(4), "alpha", block(4)); // block 1 is now within a quarter ring of being overwritten
            assertNull(arena.find(key(1), "alpha"));
            assertNotNull(arena.find(key(2), "alpha"));
        } finally {
            arena.close();
        }
    }

    @Test
    void manySmallBlocksAreAllFoundOrAllowedToMissButNeverWrong() throws Exception {
        SharedArena arena = oneMebibyteArena();
        try (Arena readerArena = Arena.ofConfined()) {
            MemorySegment reader = mapReadOnly(arena.file(), readerArena);
            int n = 3000; // 3000 x 1 KiB: more blocks than index slots (256), and the ring laps 3 times
            for (int i = 0; i < n; i++) {
                arena.add(key(i), "alpha", small(i));
            }
            int found = 0;
            for (int i = 0; i < n; i++) {
                ByteBuffer b = read(reader, key(i), "alpha");
                if (b != null) {
                    assertEquals(ByteBuffer.wrap(small(i)), b, "block " + i);
                    found++;
                }
            }
            assertEquals(true, found > 0 && found <= 256, "found " + found);
        } finally {
            arena.close();
        }
    }

    @Test
    void readersRacingTheWriterGetTheRightBytesOrNothing() throws Exception {
        SharedArena arena = oneMebibyteArena();
        int n = 400; // 64 KiB blocks: the 1 MiB ring holds 16, so it laps ~25 times while the readers read
        List<BlockKey> keys = java.util.stream.IntStream.range(0, n).mapToObj(SharedArenaTest::key).toList();
        java.util.concurrent.atomic.AtomicInteger written = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger hits = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicReference<String> wrong = new java.util.concurrent.atomic.AtomicReference<>();
        try (Arena readerArena = Arena.ofShared()) {
            MemorySegment reader = mapReadOnly(arena.file(), readerArena);
            Thread writer = Thread.ofPlatform().start(() -> {
                for (int i = 0; i < n; i++) {
                    arena.add(keys.get(i), "alpha", sized(i, 64 << 10));
                    written.set(i + 1);
                }
            });
            List<Thread> readers = new java.util.ArrayList<>();
            for (int r = 0; r < 2; r++) {
                readers.add(Thread.ofPlatform().start(() -> {
                    SplittableRandom random = new SplittableRandom();
                    while (written.get() < n) {
                        int i = Math.max(0, written.get() - 1 - random.nextInt(20)); // recent: some are being lapped
                        ByteBuffer b = read(reader, keys.get(i), "alpha");
                        if (b != null) {
                            hits.incrementAndGet();
                            if (!b.equals(ByteBuffer.wrap(sized(i, 64 << 10)))) {
                                wrong.set("block " + i);
                            }
                        }
                    }
                }));
            }
            writer.join();
            for (Thread t : readers) {
                t.join();
            }
        } finally {
            arena.close();
        }
        assertNull(wrong.get(), "a reader got bytes that are not the block's");
        assertEquals(true, hits.get() > 0, "readers found blocks while the writer wrote");
    }

    private static byte[] sized(int seed, int bytes) {
        byte[] b = new byte[bytes];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    private static SharedArena oneMebibyteArena() {
        SharedArena arena = SharedArena.create(1L << 20);
        assumeTrue(arena != null, "no writable /dev/shm here");
        return arena;
    }

    /** What a reader does: look the tenant's key up in its own mapping and copy the block out. */
    private static ByteBuffer read(MemorySegment reader, BlockKey key, String tenant) {
        return SharedArena.read(reader, key, SharedArena.tenantHash(tenant));
    }

    private static BlockKey key(int i) {
        return BlockKeys.chain(BlockKeys.root("m", 1, CacheDType.F32, ("t" + i).getBytes(StandardCharsets.UTF_8)), new int[16], 16)
                .getFirst();
    }

    private static MemorySegment mapReadOnly(Path file, Arena arena) throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
    }

    private static byte[] block(int seed) {
        return sized(seed, BLOCK);
    }

    private static byte[] small(int seed) {
        return sized(seed, 1024);
    }
}
