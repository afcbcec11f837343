package io.kvasir.engine.backend.cpu;

import io.kvasir.engine.backend.Backend.RangeBody;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads that run one parallel loop at a time, without allocating per call.
 * The caller works too, then spins until the others finish; idle workers spin briefly (the next
 * matmul usually follows within microseconds) and then park.
 *
 * <p>Work is handed out in small ranges from a shared counter, not split evenly up front: a thread
 * that starts late (a worker waking from park) or runs slower (two vCPUs that are one core's
 * hyperthreads, a noisy neighbour) takes fewer ranges instead of making the rest wait for it.
 * Profiled decode before this: 12% of samples were threads waiting at the end of a loop.
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
    /** Ranges per thread and loop: enough to even out, few enough that the counter costs nothing. */
    private static final int RANGES_PER_THREAD = 8;

    private final AtomicInteger nextItem = new AtomicInteger();
    private RangeBody body;   // published by the volatile write of generation
    private int count;
    private int grain;

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
        if (numThreads == 1 || count <= 1) {
            body.run(0, 0, count);
            return;
        }
        this.body = body;
        this.count = count;
        this.grain = Math.max(1, count / (numThreads * RANGES_PER_THREAD));
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
        int step = grain;
        for (int from; (from = nextItem.getAndAdd(step)) < count; ) {
            body.run(chunk, from, Math.min(count, from + step));
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
