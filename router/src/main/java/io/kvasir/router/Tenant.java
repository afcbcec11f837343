package io.kvasir.router;

import java.util.Set;
import java.util.regex.Pattern;

/**
 * Who a request is for, as the router decides it (never as the client claims it): the tenant's
 * name, its share of a busy decode node ({@code weight}, for weighted fair queuing), and the shared
 * cache namespaces it may name with {@code cache_salt} (a public system prompt cached once for
 * every tenant allowed to use it).
 */
public record Tenant(String name, int weight, Set<String> sharedNamespaces, boolean anyNamespace) {
    /** Tenant and namespace names: no spaces, no ':' (so "shared:x" never names a tenant). */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final String SHARED = "shared:";

    public Tenant {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("tenant name \"" + name + "\" must be 1 to 64 of A-Z a-z 0-9 . _ -");
        }
        if (weight < 1 || weight > 1000) {
            throw new IllegalArgumentException("tenant " + name + ": weight must be 1 to 1000, got " + weight);
        }
        for (String ns : sharedNamespaces) {
            if (!NAME.matcher(ns).matches()) {
                throw new IllegalArgumentException("tenant " + name + ": shared namespace \"" + ns
                        + "\" must be 1 to 64 of A-Z a-z 0-9 . _ -");
            }
        }
        sharedNamespaces = Set.copyOf(sharedNamespaces);
    }

    public static Tenant of(String name) {
        return new Tenant(name, 1, Set.of(), false);
    }

    /** A tenant of an open router (no keys): anyone may name any namespace, as anyone may name any tenant. */
    static Tenant open(String name) {
        return new Tenant(name, 1, Set.of(), true);
    }

    /**
     * Whose cache a request uses: the namespace the client named, if this tenant may use it,
     * otherwise the tenant's own; a salt it may not use is ignored, so it can never reach another
     * tenant's blocks.
     */
    public String cacheOwner(String requestedSalt) {
        if (requestedSalt == null || requestedSalt.isEmpty() || !NAME.matcher(requestedSalt).matches()) {
            return name;
        }
        return anyNamespace || sharedNamespaces.contains(requestedSalt) ? SHARED + requestedSalt : name;
    }
}
