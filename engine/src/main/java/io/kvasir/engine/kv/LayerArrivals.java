package io.kvasir.engine.kv;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * How far a prefix being loaded into a table has arrived: the first {@code ready} layers of every
 * loaded block hold their K/V, the rest are on their way. The loader reports from its own thread;
 * the forward pass waits for each layer just before it reads it, so it computes on the first layers
 * while later ones still travel (as LMCache and Mooncake load layer by layer).
 */
public final class LayerArrivals {
    /** Longer than any store call's deadline: the loader reports a failure before this passes. */
    private static final long PATIENCE_SECONDS = 300;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private int ready;
    private String failure;
    private boolean abandoned;

    /** {@code ready}: layers already in place. */
    public LayerArrivals(int ready) {
        this.ready = ready;
    }

    /** The loader: every layer below {@code layers} is in place. */
    public void arrived(int layers) {
        lock.lock();
        try {
            ready = Math.max(ready, layers);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The loader: runs {@code fill}, which writes arrived layers into the table's blocks, unless the
     * table has given those blocks up (they may belong to another sequence by now); false if it has.
     */
    public boolean fill(Runnable fill) {
        lock.lock();
        try {
            if (abandoned) {
                return false;
            }
            fill.run();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The table: its blocks go back to the pool; no {@link #fill} runs once this returns. */
    public void abandon() {
        lock.lock();
        try {
            abandoned = true;
            failure = failure == null ? "the table gave its blocks up" : failure;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The loader: the remaining layers will not come, because of {@code why}. */
    public void failed(String why) {
        lock.lock();
        try {
            failure = why;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until {@code layer} is in place.
     *
     * @throws PrefixLostException it never will be (the loader failed or gave no sign for minutes)
     */
    public void await(int layer) {
        lock.lock();
        try {
            long left = TimeUnit.SECONDS.toNanos(PATIENCE_SECONDS);
            while (ready <= layer && failure == null) {
                if (left <= 0) {
                    throw new PrefixLostException("layer " + layer + " did not arrive within " + PATIENCE_SECONDS + " s");
                }
                left = changed.awaitNanos(left);
            }
            if (ready <= layer) {
                throw new PrefixLostException(failure);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PrefixLostException("interrupted while waiting for layer " + layer);
        } finally {
            lock.unlock();
        }
    }
}
