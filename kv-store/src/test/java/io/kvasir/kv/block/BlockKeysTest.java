package io.kvasir.kv.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

class BlockKeysTest {
    private static final byte[] SALT_A = "tenant-a".getBytes(StandardCharsets.UTF_8);
    private static final byte[] SALT_B = "tenant-b".getBytes(StandardCharsets.UTF_8);

    private static int[] tokens(int n, int seed) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = (i * 7919 + seed) % 32000;
        }
        return t;
    }

    @Test
    void sameInputsSameKeysEverywhere() {
        // a fixed vector: any node, any JVM, any day must derive exactly this
        BlockKey root = BlockKeys.root("model", 1, CacheDType.F32, SALT_A);
        List<BlockKey> keys = BlockKeys.chain(root, tokens(40, 3), 16);
        assertEquals(2, keys.size(), "the trailing partial block has no key");
        assertEquals(keys, BlockKeys.chain(BlockKeys.root("model", 1, CacheDType.F32, SALT_A), tokens(40, 3), 16));
        assertEquals(64, keys.get(0).hex().length());
        // computed independently with Python's hashlib from the definition in BlockKeys' javadoc:
        // root = sha256(lp(b"kvasir.kv.block-key.v2") + lp(b"model") + le32(1) + lp(b"f32") + lp(b"tenant-a")),
        // k1 = sha256(root + le32(16) + le32 * tokens[0:16]), lp = le32 length prefix
        assertEquals("508b6baa1a96e229847d4098c78d0dd00ed97a701db7cd36bc683b5ddf633ba0", keys.get(0).hex());
    }

    @Test
    void everyInputChangesTheKeys() {
        int[] t = tokens(32, 3);
        BlockKey base = BlockKeys.chain(BlockKeys.root("model", 1, CacheDType.F32, SALT_A), t, 16).get(1);
        Set<BlockKey> distinct = new HashSet<>();
        distinct.add(base);
        distinct.add(BlockKeys.chain(BlockKeys.root("model2", 1, CacheDType.F32, SALT_A), t, 16).get(1));
        distinct.add(BlockKeys.chain(BlockKeys.root("model", 2, CacheDType.F32, SALT_A), t, 16).get(1));
        distinct.add(BlockKeys.chain(BlockKeys.root("model", 1, CacheDType.F32, SALT_B), t, 16).get(1));
        distinct.add(BlockKeys.chain(BlockKeys.root("model", 1, CacheDType.F16, SALT_A), t, 16).get(1));
        int[] changedFirstBlock = t.clone();
        changedFirstBlock[0]++;
        distinct.add(BlockKeys.chain(BlockKeys.root("model", 1, CacheDType.F32, SALT_A), changedFirstBlock, 16).get(1));
        distinct.add(BlockKeys.chain(BlockKeys.root("model", 1, CacheDType.F32, SALT_A), t, 8).get(3));
        assertEquals(7, distinct.size());
    }

    @Test
    void sharedPrefixSharesKeys() {
        int[] a = tokens(64, 3);
        int[] b = a.clone();
        b[40] = 5;
        BlockKey root = BlockKeys.root("model", 1, CacheDType.F32, SALT_A);
        List<BlockKey> ka = BlockKeys.chain(root, a, 16);
        List<BlockKey> kb = BlockKeys.chain(root, b, 16);
        assertEquals(ka.subList(0, 2), kb.subList(0, 2));
        assertNotEquals(ka.get(2), kb.get(2));
        assertNotEquals(ka.get(3), kb.get(3), "a change reaches every later block through the chain");
    }

    @Test
    void hexRoundTrips() {
        BlockKey k = BlockKeys.root("m", 1, CacheDType.F32, SALT_A);
        assertEquals(k, BlockKey.fromHex(k.hex()));
        assertTrue(k.toString().endsWith("…"));
    }
}
