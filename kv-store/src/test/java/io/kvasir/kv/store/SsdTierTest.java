package io.kvasir.kv.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.block.TestBlocks;

class SsdTierTest {
    private static final BlockLayout LAYOUT = BlockLayout.attention(CacheDType.F16, 16, 2, 32);

    private static BlockKey key(int i) {
        return BlockKeys.next(BlockKeys.root("m", 1, CacheDType.F32, "t".getBytes(StandardCharsets.UTF_8)), new int[] {i}, 0, 1);
    }

    private static byte[] block(int i) {
        return BlockCodec.encode(TestBlocks.random("m", LAYOUT, i));
    }

    @Test
    void writesReadsAndEvictsLeastRecentlyUsedPastTheBudget(@TempDir Path dir) throws Exception {
        long size = block(0).length;
        List<BlockKey> removed = new ArrayList<>();
        SsdTier ssd = new SsdTier(dir, 3 * size, (k, t, b) -> removed.add(k));
        for (int i = 0; i < 3; i++) {
            ssd.write(key(i), "tenant", block(i));
        }
        assertArrayEquals(block(0), ssd.read(key(0)).orElseThrow().payload()); // 0 is now the most recent
        ssd.write(key(3), "tenant", block(3));
        assertEquals(List.of(key(1)), removed, "least recently used goes first");
        assertFalse(ssd.contains(key(1)));
        assertFalse(Files.exists(ssd.fileOf(key(1), "tenant")));
        assertEquals(3, ssd.blocks());
        assertEquals(3 * size, ssd.usedBytes());
        assertEquals("tenant", ssd.read(key(3)).orElseThrow().tenant());
    }

    @Test
    void corruptOrTruncatedFileIsAMissAndIsDeleted(@TempDir Path dir) throws Exception {
        List<BlockKey> removed = new ArrayList<>();
        SsdTier ssd = new SsdTier(dir, 1 << 20, (k, t, b) -> removed.add(k));
        ssd.write(key(1), "tenant", block(1));
        ssd.write(key(2), "tenant", block(2));
        Path flipped = ssd.fileOf(key(1), "tenant");
        byte[] bytes = Files.readAllBytes(flipped);
        bytes[bytes.length - 100] ^= 0x40;
        Files.write(flipped, bytes);
        Path truncated = ssd.fileOf(key(2), "tenant");
        Files.write(truncated, java.util.Arrays.copyOf(Files.readAllBytes(truncated), 300));

        assertTrue(ssd.read(key(1)).isEmpty());
        assertTrue(ssd.read(key(2)).isEmpty());
        assertFalse(Files.exists(flipped));
        assertFalse(Files.exists(truncated));
        assertEquals(List.of(key(1), key(2)), removed);
        assertEquals(0, ssd.usedBytes());
    }

    @Test
    void reopeningRebuildsFromTheFiles(@TempDir Path dir) throws Exception {
        SsdTier first = new SsdTier(dir, 1 << 20, (k, t, b) -> { });
        for (int i = 0; i < 4; i++) {
            first.write(key(i), i % 2 == 0 ? "alpha" : "beta", block(i));
        }
        Files.writeString(dir.resolve("stray.txt"), "not a block");

        SsdTier reopened = new SsdTier(dir, 1 << 20, (k, t, b) -> { });
        List<SsdTier.Entry> found = reopened.rebuild();
        assertEquals(4, found.size());
        assertEquals(first.usedBytes(), reopened.usedBytes());
        for (int i = 0; i < 4; i++) {
            SsdTier.Hit hit = reopened.read(key(i)).orElseThrow();
            assertArrayEquals(block(i), hit.payload());
            assertEquals(i % 2 == 0 ? "alpha" : "beta", hit.tenant());
        }
    }

    @Test
    void rebuildHonoursASmallerBudget(@TempDir Path dir) throws Exception {
        long size = block(0).length;
        SsdTier first = new SsdTier(dir, 1 << 20, (k, t, b) -> { });
        for (int i = 0; i < 4; i++) {
            first.write(key(i), "t", block(i));
            Files.setLastModifiedTime(first.fileOf(key(i), "t"), java.nio.file.attribute.FileTime.fromMillis(
                    1_000_000L * (i + 1)));
        }
        SsdTier smaller = new SsdTier(dir, 2 * size, (k, t, b) -> { });
        assertEquals(2, smaller.rebuild().size());
        assertFalse(smaller.contains(key(0)));
        assertFalse(smaller.contains(key(1)));
        assertTrue(smaller.contains(key(3)), "the newest files stay");
    }

    @Test
    void aTenantWithALongNameKeepsItsBlocksAcrossARestart(@TempDir Path dir) throws Exception {
        String longName = "\u00e9".repeat(128); // 128 characters, 256 bytes of UTF-8: 512 hex digits
        SsdTier ssd = new SsdTier(dir, 1 << 20, (k, t, b) -> { });
        ssd.write(key(1), longName, block(1));
        ssd.write(key(2), "short", block(2));
        assertTrue(ssd.fileOf(key(1), longName).getFileName().toString().length() <= 255);
        assertEquals(longName, ssd.read(key(1)).orElseThrow().tenant());

        SsdTier reopened = new SsdTier(dir, 1 << 20, (k, t, b) -> { });
        assertEquals(2, reopened.rebuild().size());
        assertEquals(longName, reopened.read(key(1)).orElseThrow().tenant());
        assertArrayEquals(block(1), reopened.read(key(1)).orElseThrow().payload());
        assertEquals("short", reopened.read(key(2)).orElseThrow().tenant());
    }

    @Test
    void aFailedWriteLeavesNoTemporaryFileAndARebuildSweepsThoseACrashLeft(@TempDir Path dir) throws Exception {
        SsdTier ssd = new SsdTier(dir, 1 << 20, (k, t, b) -> { });
        Path target = ssd.fileOf(key(1), "tenant");
        Files.createDirectories(target); // a directory where the block's file belongs: the rename fails
        Files.writeString(target.resolve("x"), "x");
        org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> ssd.write(key(1), "tenant", block(1)));
        try (var files = Files.list(target.getParent())) {
            assertEquals(List.of(target), files.toList(), "no temporary file left");
        }
        assertFalse(ssd.contains(key(1)));

        Path crashed = ssd.fileOf(key(2), "tenant").resolveSibling("leftover.arrow.tmp17");
        Files.createDirectories(crashed.getParent());
        Files.write(crashed, block(2));
        new SsdTier(dir, 1 << 20, (k, t, b) -> { }).rebuild();
        assertFalse(Files.exists(crashed), "a crash's temporary file is swept at start");
    }
}
