package io.kvasir.engine.backend.cpu;

import io.kvasir.engine.backend.Backend.RangeBody;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads that run one parallel loop at a time, without allocating per call.
 * The caller works too, then spins until the others finish; idle workers spin briefly (the next
 * matmul usually follows within microseconds) and then park.
 *
 * <p>Work is handed out in ranges from a shared counter, not split evenly up front: a thread
 * that starts late (a worker waking from park) or runs slower (two vCPUs that are one core's
 * hyperthreads, a noisy neighbour) takes fewer ranges instead of making the rest wait for it.
 * Profiled decode before this: 12% of samples were threads waiting at the end of a loop.
 *
 * <p>The ranges shrink as the work runs out (guided scheduling): each take is a
 * {@code 1/(2·threads)} share of what is left, down to a floor of {@code count/(threads·256)}. A
 * loop then ends with small ranges, so the thread that finishes first waits at most one of them,
 * and takes few ranges in all (21 for 8192 rows on 2 threads). Fixed ranges of 1/16 of a loop
 * left the worker idle in 22% of its samples at 2K-context decode: a range of ffn_gate is 1.1 MB of
 * Q8_0 (~90 µs), one of the LM head 17 MB.
 *
 * <p>Not reentrant: one thread calls {@link #parallelFor} at a time and bodies must not call it.
 */
final class WorkerPool implements AutoCloseable {
    private static final int SPINS_BEFORE_PARK = 20_000;

    private final Thread[] workers;
    private final int numThreads;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile int generation;
    private volatile boolean closed;
    private volatile Throwable failure;
    /** The smallest range is this fraction of a thread's even share of the loop. */
    private static final int MIN_RANGE_FRACTION = 256;

    private final AtomicInteger nextItem = new AtomicInteger();
    private RangeBody body;   // published by the volatile write of generation
    private int count;
    private int minRange;

    WorkerPool(int numThreads) {
        if (numThreads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + numThreads);
        }
        this.numThreads = numThreads;
        this.workers = new Thread[numThreads - 1];
        for (int i = 0; i < workers.length; i++) {
            int chunk = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("kvasir-cpu-" + chunk).start(() -> workLoop(chunk));
        }
    }

    int numThreads() {
        return numThreads;
    }

    void parallelFor(int count, RangeBody body) {
        if (count <= 0) {
            return;
        }
        if (numThreads == 1 || count == 1) {
            body.run(0, 0, count);
            return;
        }
        this.body = body;
        this.count = count;
        this.minRange = Math.max(1, count / (numThreads * MIN_RANGE_FRACTION));
        nextItem.set(0);
        failure = null;
        pending.set(workers.length);
        generation++;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        runChunk(0, body, count);
        while (pending.get() != 0) {
            Thread.onSpinWait();
        }
        this.body = null;
        Throwable t = failure;
        if (t != null) {
            if (t instanceof RuntimeException re) throw re;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException(t);
        }
    }

    /** Takes ranges until none is left; {@code chunk} is the thread's index (its scratch space). */
    private void runChunk(int chunk, RangeBody body, int count) {
        int share = 2 * numThreads;
        for (int from; (from = nextItem.get()) < count; ) {
            int to = Math.min(count, from + Math.max(minRange, (count - from) / share));
            if (nextItem.compareAndSet(from, to)) {
                body.run(chunk, from, to);
            }
        }
    }

    private void workLoop(int chunk) {
        int seen = 0;
        while (true) {
            int spins = 0;
            while (generation == seen && !closed) {
                if (++spins < SPINS_BEFORE_PARK) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            try {
                runChunk(chunk, body, count);
            } catch (Throwable t) {
                failure = t;
            } finally {
                pending.decrementAndGet();
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
