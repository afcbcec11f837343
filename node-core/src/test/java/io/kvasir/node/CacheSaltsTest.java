package io.kvasir.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;
import java.util.List;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.kv.block.BlockKey;

/** Keys under a cluster secret: unrelated to the plain ones and to another secret's, the same wherever the secret is. */
class CacheSaltsTest {
    private static final int[] TOKENS = {5, 6, 7, 8, 9, 10, 11, 12};

    @TempDir
    Path dir;

    @Test
    void aSecretGivesKeysNoOneWithoutItCanDerive() throws Exception {
        CacheSalts secret = CacheSalts.keyed("a cluster secret, 32 bytes long.".getBytes());
        List<BlockKey> plain = chain(CacheSalts.plain()).keys("alpha", TOKENS, 8);
        List<BlockKey> keyed = chain(secret).keys("alpha", TOKENS, 8);
        assertNotEquals(plain, keyed);
        assertNotEquals(keyed, chain(CacheSalts.keyed("another secret, also 32 bytes...".getBytes())).keys("alpha", TOKENS, 8));
        assertNotEquals(keyed, chain(secret).keys("beta", TOKENS, 8), "tenants stay apart under one secret");
        assertEquals(keyed, chain(CacheSalts.keyed("a cluster secret, 32 bytes long.".getBytes())).keys("alpha", TOKENS, 8));
        // the salt is HMAC-SHA-256(secret, tenant), as computed here independently
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec("a cluster secret, 32 bytes long.".getBytes(), "HmacSHA256"));
        assertEquals(HexFormat.of().formatHex(mac.doFinal("alpha".getBytes())), HexFormat.of().formatHex(secret.of("alpha")));
    }

    @Test
    void serveCreatesOneSecretAndKeepsItAndAShortSecretIsRefusedNamingTheFile() throws Exception {
        Path file = dir.resolve("cache-secret");
        CacheSalts first = CacheSalts.createIfAbsent(file);
        assertTrue(first.keyed());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertEquals(HexFormat.of().formatHex(first.of("t")), HexFormat.of().formatHex(CacheSalts.createIfAbsent(file).of("t")));
        Files.writeString(dir.resolve("short"), "too short\n");
        var e = assertThrows(IllegalArgumentException.class, () -> CacheSalts.fromFile(dir.resolve("short")));
        assertTrue(e.getMessage().contains("short: a cache secret needs at least 16 bytes"), e.getMessage());
    }

    private static BlockKeyChain chain(CacheSalts salts) {
        return new BlockKeyChain("model", KvCacheType.F16, 4, salts);
    }
}
