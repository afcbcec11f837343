package io.kvasir.engine.loop;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToIntFunction;

/**
 * Waiting sequences, one FIFO per tenant, served by weighted round robin across tenants: a tenant
 * of weight w takes up to w admissions in its turn, then goes to the back of the rotation. A tenant
 * that floods the node waits behind its own requests, not in front of everyone else's, and over a
 * busy period each backlogged tenant is admitted in proportion to its weight. (Per request, not
 * per token: admissions are what the queue decides; a long request costs its tenant the same turn
 * as a short one, which vLLM's FCFS does not weigh either.) Not thread-safe: the engine holds its
 * lock around every call.
 */
final class FairQueue<T> {
    private final Function<T, String> tenantOf;
    private final ToIntFunction<T> weightOf;
    private final LinkedHashMap<String, ArrayDeque<T>> byTenant = new LinkedHashMap<>();
    /** Admissions the tenant at the head of the rotation has left in its turn. */
    private int turnLeft;
    private int size;

    FairQueue(Function<T, String> tenantOf) {
        this(tenantOf, t -> 1);
    }

    /** {@code weightOf}: the weight a tenant's turn uses is that of its request at the head of its queue; below 1 counts as 1. */
    FairQueue(Function<T, String> tenantOf, ToIntFunction<T> weightOf) {
        this.tenantOf = tenantOf;
        this.weightOf = weightOf;
    }

    void add(T item) {
        byTenant.computeIfAbsent(tenantOf.apply(item), t -> new ArrayDeque<>()).add(item);
        size++;
    }

    /** The next in turn, without taking it; null when empty. */
    T peek() {
        return byTenant.isEmpty() ? null : byTenant.firstEntry().getValue().peek();
    }

    /** Takes the next in turn; its tenant goes to the back once its turn is used up or its queue is empty. */
    T poll() {
        if (byTenant.isEmpty()) {
            return null;
        }
        Map.Entry<String, ArrayDeque<T>> first = byTenant.firstEntry();
        if (turnLeft <= 0) {
            turnLeft = Math.max(1, weightOf.applyAsInt(first.getValue().peek()));
        }
        T item = first.getValue().poll();
        turnLeft--;
        size--;
        if (first.getValue().isEmpty()) {
            byTenant.pollFirstEntry();
            turnLeft = 0;
        } else if (turnLeft == 0) {
            byTenant.pollFirstEntry();
            byTenant.put(first.getKey(), first.getValue());
        }
        return item;
    }

    boolean isEmpty() {
        return size == 0;
    }

    int size() {
        return size;
    }
}
