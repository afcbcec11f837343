package io.kvasir.kv.block;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * Block keys, the contract every node shares: a SHA-256 chain
 * {@code k0 = H(model fingerprint, layout version, dtype, tenant cache salt)},
 * {@code k_i = H(k_{i-1}, token ids of block i)}.
 *
 * <p>Every input is length-prefixed, so no two different inputs hash the same bytes, and nothing
 * node-local (no random seed, no hash of a Java object) goes in: every node derives the same keys.
 * Keys are never truncated; a collision would need a SHA-256 collision.
 */
public final class BlockKeys {
    private static final byte[] DOMAIN = "kvasir.kv.block-key.v2".getBytes(StandardCharsets.UTF_8);

    private BlockKeys() {
    }

    /**
     * The chain's root for one model, block layout, dtype and tenant namespace: nodes that keep
     * different dtypes never share (or overwrite) each other's blocks.
     */
    public static BlockKey root(String modelFingerprint, int layoutVersion, CacheDType dtype, byte[] tenantSalt) {
        MessageDigest sha = sha256();
        putBytes(sha, DOMAIN);
        putBytes(sha, modelFingerprint.getBytes(StandardCharsets.UTF_8));
        putInt(sha, layoutVersion);
        putBytes(sha, dtype.id().getBytes(StandardCharsets.UTF_8));
        putBytes(sha, tenantSalt);
        return BlockKey.wrap(sha.digest());
    }

    /** The key of the block holding {@code tokens[from, from+count)}, following {@code previous}. */
    public static BlockKey next(BlockKey previous, int[] tokens, int from, int count) {
        MessageDigest sha = sha256();
        sha.update(previous.toBytes());
        putInt(sha, count);
        byte[] ids = new byte[count * Integer.BYTES];
        for (int i = 0; i < count; i++) {
            int t = tokens[from + i];
            ids[4 * i] = (byte) t;
            ids[4 * i + 1] = (byte) (t >>> 8);
            ids[4 * i + 2] = (byte) (t >>> 16);
            ids[4 * i + 3] = (byte) (t >>> 24);
        }
        sha.update(ids);
        return BlockKey.wrap(sha.digest());
    }

    /** Keys of every full block of {@code tokens}; a trailing partial block gets none. */
    public static List<BlockKey> chain(BlockKey root, int[] tokens, int blockTokens) {
        if (blockTokens <= 0) {
            throw new IllegalArgumentException("block size must be positive, got " + blockTokens);
        }
        List<BlockKey> keys = new ArrayList<>(tokens.length / blockTokens);
        BlockKey key = root;
        for (int from = 0; from + blockTokens <= tokens.length; from += blockTokens) {
            key = next(key, tokens, from, blockTokens);
            keys.add(key);
        }
        return keys;
    }

    private static void putBytes(MessageDigest sha, byte[] bytes) {
        putInt(sha, bytes.length);
        sha.update(bytes);
    }

    private static void putInt(MessageDigest sha, int v) {
        sha.update(new byte[] {(byte) v, (byte) (v >>> 8), (byte) (v >>> 16), (byte) (v >>> 24)});
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }
}
