package io.kvasir.kv.store;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The copies this member keeps of blocks other members own (see {@link CopySender}): what makes a
 * block survive its owner's crash. Bounded by bytes, least recently used out first; a copy dropped
 * here only leaves its block with one copy fewer, and the index's list of holders is a hint that
 * is checked on every read, never trusted.
 */
final class BlockCopies {
    /** One copy: the owning tenant and the encoded block. */
    record Copy(String tenant, byte[] payload) {
    }

    private final long budgetBytes;
    private final LinkedHashMap<String, Copy> copies = new LinkedHashMap<>(256, 0.75f, true);
    private long bytes;

    BlockCopies(long budgetBytes) {
        this.budgetBytes = budgetBytes;
    }

    synchronized void add(String hex, String tenant, byte[] payload) {
        Copy old = copies.put(hex, new Copy(tenant, payload));
        bytes += payload.length - (old == null ? 0 : old.payload().length);
        Iterator<Map.Entry<String, Copy>> eldest = copies.entrySet().iterator();
        while (bytes > budgetBytes && eldest.hasNext()) {
            bytes -= eldest.next().getValue().payload().length;
            eldest.remove();
        }
    }

    /** The tenant's copy of the block, or null (none here, or another tenant's). */
    synchronized byte[] get(String hex, String tenant) {
        Copy c = copies.get(hex);
        return c != null && c.tenant().equals(tenant) ? c.payload() : null;
    }

    synchronized int size() {
        return copies.size();
    }
}
