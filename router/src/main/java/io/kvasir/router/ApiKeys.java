package io.kvasir.router;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.Map;

/**
 * API keys and the tenants they belong to. Empty: the router runs open (every caller is tenant
 * "default", or names itself in {@code x-kvasir-tenant}) and says so at start. Keys come from a
 * file of {@code key tenant} lines (a Kubernetes Secret mounted as a file) or from
 * {@code key=tenant,key=tenant} (an environment variable).
 */
public final class ApiKeys {
    private final Map<String, String> tenantByKey;

    public ApiKeys(Map<String, String> tenantByKey) {
        this.tenantByKey = Map.copyOf(tenantByKey);
    }

    public static ApiKeys open() {
        return new ApiKeys(Map.of());
    }

    /** Lines {@code key tenant}; blank lines and {@code #} comments ignored. */
    public static ApiKeys fromFile(Path file) {
        Map<String, String> keys = new HashMap<>();
        try {
            int n = 0;
            for (String line : Files.readAllLines(file)) {
                n++;
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                String[] parts = t.split("\\s+");
                if (parts.length != 2) {
                    throw new IllegalArgumentException(file + ":" + n + ": expected `key tenant`, got " + parts.length
                            + " fields");
                }
                keys.put(parts[0], parts[1]);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read API keys from " + file + ": " + e.getMessage(), e);
        }
        return new ApiKeys(keys);
    }

    /** {@code key=tenant,key=tenant}. */
    public static ApiKeys fromSpec(String spec) {
        Map<String, String> keys = new HashMap<>();
        for (String item : spec.split(",")) {
            int eq = item.indexOf('=');
            if (eq <= 0 || eq == item.length() - 1) {
                throw new IllegalArgumentException("API keys: expected key=tenant, got \"" + item + "\"");
            }
            keys.put(item.substring(0, eq).strip(), item.substring(eq + 1).strip());
        }
        return new ApiKeys(keys);
    }

    public boolean isOpen() {
        return tenantByKey.isEmpty();
    }

    /** The key's tenant, or null; compares in constant time so timing reveals nothing about keys. */
    public String tenantOf(String key) {
        if (key == null) {
            return null;
        }
        String found = null;
        for (var e : tenantByKey.entrySet()) {
            if (MessageDigest.isEqual(e.getKey().getBytes(), key.getBytes())) {
                found = e.getValue();
            }
        }
        return found;
    }

    /** The tenant of an {@code Authorization: Bearer <key>} header, or null (missing, malformed, unknown). */
    public String tenantOfAuthorization(String header) {
        return tenantOf(bearerKey(header));
    }

    /** The key of an {@code Authorization: Bearer <key>} header, or null. */
    static String bearerKey(String header) {
        return header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).strip() : null;
    }

    public int size() {
        return tenantByKey.size();
    }
}
