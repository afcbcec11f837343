package io.kvasir.kv.block;

/**
 * What the store takes as a tenant (or cache owner) name: 1 to 128 characters, not all blank.
 * Every role checks a name it is handed against this before any block is keyed or stored with it.
 */
public final class TenantNames {
    public static final int MAX_LENGTH = 128;

    private TenantNames() {
    }

    /** The problem with {@code name}, or null when the store takes it. */
    public static String problem(String field, String name) {
        if (name == null || name.isBlank() || name.length() > MAX_LENGTH) {
            String shown = name == null ? "nothing" : "'" + (name.length() > 40 ? name.substring(0, 40) + "…" : name)
                    + "' (" + name.length() + " characters)";
            return field + " must be 1 to " + MAX_LENGTH + " characters, not all blank, got " + shown;
        }
        return null;
    }

    /** {@code name}, when the store takes it. @throws IllegalArgumentException naming the field otherwise */
    public static String require(String field, String name) {
        String problem = problem(field, name);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        return name;
    }
}
