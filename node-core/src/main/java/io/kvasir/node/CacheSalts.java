package io.kvasir.node;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.HexFormat;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The salt of a cache owner's block keys. With the cluster's secret it is HMAC-SHA-256(secret,
 * owner), so knowing a tenant's name and the model file does not give its keys (nor a way to probe
 * which prefixes it has cached, or to plant blocks under them); without one it is the owner's name.
 * Every role of a cluster must use the same secret: nodes with different ones simply never share a block.
 */
public final class CacheSalts {
    /** Shortest secret accepted, in bytes. */
    static final int MIN_SECRET_BYTES = 16;
    private static final CacheSalts PLAIN = new CacheSalts(null);

    private final SecretKeySpec key;

    private CacheSalts(SecretKeySpec key) {
        this.key = key;
    }

    /** Owners' names as they are (no secret). */
    public static CacheSalts plain() {
        return PLAIN;
    }

    public static CacheSalts keyed(byte[] secret) {
        if (secret.length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException("a cache secret needs at least " + MIN_SECRET_BYTES + " bytes, got "
                    + secret.length);
        }
        return new CacheSalts(new SecretKeySpec(secret.clone(), "HmacSHA256"));
    }

    /** The secret in {@code file} (its bytes, without surrounding whitespace). */
    public static CacheSalts fromFile(Path file) throws IOException {
        byte[] secret = new String(Files.readAllBytes(file), StandardCharsets.UTF_8).strip().getBytes(StandardCharsets.UTF_8);
        try {
            return keyed(secret);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage());
        }
    }

    /** {@code file}'s secret, writing a new random one (readable by its owner only) when there is none. */
    public static CacheSalts createIfAbsent(Path file) throws IOException {
        if (!Files.exists(file)) {
            Files.createDirectories(file.toAbsolutePath().getParent());
            byte[] secret = new byte[32];
            new SecureRandom().nextBytes(secret);
            Path partial = file.resolveSibling(file.getFileName() + ".new");
            Files.deleteIfExists(partial);
            if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
                Files.createFile(partial, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            }
            Files.writeString(partial, HexFormat.of().formatHex(secret) + "\n");
            Files.move(partial, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        return fromFile(file);
    }

    public boolean keyed() {
        return key != null;
    }

    /** The salt of {@code owner}'s keys (a tenant, or a shared cache namespace). */
    public byte[] of(String owner) {
        byte[] name = owner.getBytes(StandardCharsets.UTF_8);
        if (key == null) {
            return name;
        }
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key);
            return mac.doFinal(name);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HMAC-SHA-256 is unavailable", e);
        }
    }
}
