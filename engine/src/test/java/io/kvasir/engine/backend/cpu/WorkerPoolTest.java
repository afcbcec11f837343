package io.kvasir.engine.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Real worker threads: every item runs exactly once, in well-formed ranges, and a failure reaches the caller. */
class WorkerPoolTest {

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {1, 2, 3, 4})
    void parallelFor_runsEveryItemOnce(int threads) {
        try (var pool = new WorkerPool(threads)) {
            for (int count : new int[] {0, 1, 2, 7, 512, 8192, 128_256}) {
                var runs = new AtomicIntegerArray(count);
                var chunks = new AtomicIntegerArray(threads);
                pool.parallelFor(count, (chunk, from, to) -> {
                    assertTrue(0 <= from && from < to && to <= count, "range [" + from + ", " + to + ") of " + count);
                    chunks.incrementAndGet(chunk);
                    for (int i = from; i < to; i++) runs.incrementAndGet(i);
                });
                for (int i = 0; i < count; i++) {
                    assertEquals(1, runs.get(i), "item " + i + " of " + count);
                }
            }
        }
    }

    @Test
    void parallelFor_failureReachesCaller_andPoolKeepsWorking() {
        try (var pool = new WorkerPool(2)) {
            var e = assertThrows(IllegalStateException.class, () -> pool.parallelFor(1000, (chunk, from, to) -> {
                if (from <= 500 && 500 < to) throw new IllegalStateException("item 500");
            }));
            assertEquals("item 500", e.getMessage());
            var runs = new AtomicIntegerArray(100);
            pool.parallelFor(100, (chunk, from, to) -> {
                for (int i = from; i < to; i++) runs.incrementAndGet(i);
            });
            for (int i = 0; i < 100; i++) assertEquals(1, runs.get(i), "item " + i);
        }
    }
}
