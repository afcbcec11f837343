package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.CacheDType;

/**
 * A member's shared-memory arena as a reader on its host maps it: a real arena holding blocks of
 * two tenants, whose header, index records and ring are then overwritten with the fuzzer's longs
 * (a member that crashed mid-write, a bit flipped, a hostile writer). Whatever the arena holds, a
 * read answers a copy of bytes inside the ring or null (a miss: the block is fetched over gRPC);
 * nothing escapes and no read leaves the mapping.
 */
class ArenaRecordFuzzTest {
    private static final String[] TENANTS = {"alpha", "beta"};
    private static final List<BlockKey> KEYS = new ArrayList<>();
    private static final Arena MEMORY = Arena.ofShared();
    private static MemorySegment pristine;
    private static MemorySegment work;

    @BeforeAll
    static void writeAnArena() throws Exception {
        SharedArena arena = SharedArena.create(1L << 20);
        assumeTrue(arena != null, "no writable /dev/shm here");
        try (arena) {
            for (int i = 0; i < 6; i++) {
                BlockKey key = BlockKeys.chain(BlockKeys.root("m", 1, CacheDType.F32,
                        ("k" + i).getBytes(StandardCharsets.UTF_8)), new int[16], 16).getFirst();
                byte[] block = new byte[1000 + 4000 * i];
                block[0] = (byte) i;
                arena.add(key, TENANTS[i % 2], block);
                KEYS.add(key);
            }
            byte[] bytes = Files.readAllBytes(arena.file());
            pristine = MEMORY.allocate(bytes.length, 8).copyFrom(MemorySegment.ofArray(bytes));
            work = MEMORY.allocate(bytes.length, 8);
        }
    }

    @AfterAll
    static void free() {
        MEMORY.close();
    }

    @FuzzTest(maxExecutions = 10_000)
    void readsAnswerBytesInsideTheRingOrNothing(FuzzedDataProvider data) {
        work.copyFrom(pristine);
        // the header and the first index slots hold every field a reader trusts; the ring's start the first blocks
        long mutable = Math.min(work.byteSize(), 64 * 1024) / 8;
        int writes = data.consumeInt(0, 12);
        for (int i = 0; i < writes; i++) {
            long at = data.consumeLong(0, mutable - 1) * 8;
            work.set(ValueLayout.JAVA_LONG, at, data.consumeLong());
        }
        for (BlockKey key : KEYS) {
            for (String tenant : TENANTS) {
                check(SharedArena.read(work, key, SharedArena.tenantHash(tenant)), -1);
            }
        }
        long length = data.consumeLong();
        check(SharedArena.copyOut(work, data.consumeLong(), length), length);
    }

    private static void check(ByteBuffer copy, long asked) {
        if (copy != null && (copy.remaining() > work.byteSize() || asked >= 0 && copy.remaining() != asked)) {
            throw new AssertionError("a copy of " + copy.remaining() + " bytes out of a " + work.byteSize()
                    + "-byte arena (asked " + asked + ")");
        }
    }
}
