package io.kvasir.router;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * API keys and the tenants they belong to. Empty: the router runs open (every caller is tenant
 * "default", or names itself in {@code x-kvasir-tenant}) and says so at start. Keys come from a
 * file of {@code key tenant [weight=N] [shared=NS+NS]} lines (a Kubernetes Secret mounted as a file)
 * or from {@code key=tenant [options],key=tenant} (an environment variable). {@code weight}: the
 * tenant's share of a busy decode node (default 1); {@code shared}: cache namespaces the tenant may
 * name with {@code cache_salt}.
 */
public final class ApiKeys {
    private final Map<String, Tenant> tenantByKey;

    public ApiKeys(Map<String, Tenant> tenantByKey) {
        this.tenantByKey = Map.copyOf(tenantByKey);
    }

    public static ApiKeys open() {
        return new ApiKeys(Map.of());
    }

    /** Lines {@code key tenant [weight=N] [shared=NS+NS]}; blank lines and {@code #} comments ignored. */
    public static ApiKeys fromFile(Path file) {
        Map<String, Tenant> keys = new HashMap<>();
        try {
            int n = 0;
            for (String line : Files.readAllLines(file)) {
                n++;
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                String[] parts = t.split("\\s+");
                if (parts.length < 2) {
                    throw new IllegalArgumentException(file + ":" + n + ": expected `key tenant [weight=N] [shared=NS]`, got "
                            + parts.length + " field");
                }
                try {
                    keys.put(parts[0], tenant(parts[1], Arrays.copyOfRange(parts, 2, parts.length)));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(file + ":" + n + ": " + e.getMessage(), e);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read API keys from " + file + ": " + e.getMessage(), e);
        }
        return new ApiKeys(keys);
    }

    /** {@code key=tenant [weight=N] [shared=NS+NS],key=tenant}. */
    public static ApiKeys fromSpec(String spec) {
        Map<String, Tenant> keys = new HashMap<>();
        for (String item : spec.split(",")) {
            String[] parts = item.strip().split("\\s+");
            int eq = parts[0].indexOf('=');
            if (eq <= 0 || eq == parts[0].length() - 1) {
                throw new IllegalArgumentException("API keys: expected key=tenant, got \"" + item + "\"");
            }
            keys.put(parts[0].substring(0, eq), tenant(parts[0].substring(eq + 1), Arrays.copyOfRange(parts, 1, parts.length)));
        }
        return new ApiKeys(keys);
    }

    private static Tenant tenant(String name, String[] options) {
        int weight = 1;
        Set<String> shared = new HashSet<>();
        for (String option : options) {
            if (option.startsWith("weight=")) {
                try {
                    weight = Integer.parseInt(option.substring(7));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("tenant " + name + ": weight must be an integer, got \""
                            + option.substring(7) + "\"");
                }
            } else if (option.startsWith("shared=")) {
                shared.addAll(Arrays.asList(option.substring(7).split("\\+")));
            } else {
                throw new IllegalArgumentException("tenant " + name + ": unknown option \"" + option
                        + "\" (expected weight=N or shared=NS+NS)");
            }
        }
        return new Tenant(name, weight, shared, false);
    }

    public boolean isOpen() {
        return tenantByKey.isEmpty();
    }

    /** The key's tenant, or null; compares in constant time so timing reveals nothing about keys. */
    public Tenant tenantOf(String key) {
        if (key == null) {
            return null;
        }
        Tenant found = null;
        for (var e : tenantByKey.entrySet()) {
            if (MessageDigest.isEqual(e.getKey().getBytes(), key.getBytes())) {
                found = e.getValue();
            }
        }
        return found;
    }

    /** The tenant of an {@code Authorization: Bearer <key>} header, or null (missing, malformed, unknown). */
    public Tenant tenantOfAuthorization(String header) {
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
