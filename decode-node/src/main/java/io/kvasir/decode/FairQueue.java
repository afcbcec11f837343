package io.kvasir.decode;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Waiting sequences, one FIFO per tenant, served round-robin across tenants: a tenant that floods
 * the node waits behind its own requests, not in front of everyone else's (fair queuing with
 * equal weights). Not thread-safe: the engine holds its lock around every call.
 */
final class FairQueue<T> {
    private final Function<T, String> tenantOf;
    private final LinkedHashMap<String, ArrayDeque<T>> byTenant = new LinkedHashMap<>();
    private int size;

    FairQueue(Function<T, String> tenantOf) {
        this.tenantOf = tenantOf;
    }

    void add(T item) {
        byTenant.computeIfAbsent(tenantOf.apply(item), t -> new ArrayDeque<>()).add(item);
        size++;
    }

    /** The next in turn, without taking it; null when empty. */
    T peek() {
        return byTenant.isEmpty() ? null : byTenant.firstEntry().getValue().peek();
    }

    /** Takes the next in turn; its tenant goes to the back of the rotation. */
    T poll() {
        if (byTenant.isEmpty()) {
            return null;
        }
        Map.Entry<String, ArrayDeque<T>> first = byTenant.pollFirstEntry();
        T item = first.getValue().poll();
        if (!first.getValue().isEmpty()) {
            byTenant.put(first.getKey(), first.getValue());
        }
        size--;
        return item;
    }

    boolean isEmpty() {
        return size == 0;
    }

    int size() {
        return size;
    }
}
