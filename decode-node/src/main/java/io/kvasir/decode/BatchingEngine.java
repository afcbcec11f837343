package io.kvasir.decode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The step loop both decode engines run, whatever holds the KV: requests wait in a weighted fair
 * queue until their worst case in KV blocks is free (so a running sequence never runs out), join
 * the batch between steps, and leave it the moment they finish or are cancelled. Subclasses say
 * how a sequence is prefilled, how a step runs, and what happens to a finished sequence's blocks.
 */
abstract class BatchingEngine<S extends SequenceState> implements Decoder {
    private static final Logger LOG = Logger.getLogger(BatchingEngine.class.getName());

    final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final FairQueue<S> waiting = new FairQueue<>(s -> s.request.tenant(), s -> s.request.weight());
    final List<S> running = new ArrayList<>();
    private final int maxBatch;
    private final int capacity;
    private final int vocab;
    private final int context;
    private Thread loop;
    /** Blocks promised to admitted sequences; guarded by {@link #lock}. */
    int reservedBlocks;
    /** Shared cached blocks running sequences held at the last admission; guarded by {@link #lock}. */
    private int pinned;
    private volatile int runningCount;
    private volatile boolean closed;

    /** {@code capacity}: KV blocks; {@code maxBatch}: sequences per step. */
    BatchingEngine(int capacity, int maxBatch, int vocab, int context) {
        this.capacity = capacity;
        this.maxBatch = maxBatch;
        this.vocab = vocab;
        this.context = context;
    }

    /** Starts the loop; the last thing a subclass constructor does. */
    final void startLoop(String name) {
        loop = Thread.ofPlatform().name(name).daemon().start(this::run);
    }

    abstract S newSequence(DecodeEngine.Request request, DecodeEngine.Listener listener);

    /**
     * What admitting a sequence now would commit: {@code own} blocks reserved for it (its worst case
     * less the cached blocks it shares), and {@code newlyPinned} cached blocks it would keep from
     * eviction that nothing running holds yet.
     */
    record Cost(int own, int newlyPinned) {
    }

    /** Under the lock, before admission (called again while the sequence waits). */
    Cost cost(S s) {
        return new Cost(s.blocksNeeded, 0);
    }

    /** Under the lock: cached blocks running sequences share, outside every reservation. */
    int pinnedBlocks() {
        return 0;
    }

    /** Under the lock, just admitted (its blocks reserved): room may now be made for them. */
    abstract void admitted(S s);

    /** Loads the cached prefix, computes the rest of the prompt and accepts the first token. */
    abstract void prefill(S s);

    /** One token for every running sequence. */
    abstract void step(List<S> batch);

    /** Outside the lock, a finished sequence's blocks to the cache (a failed one's are only released). */
    abstract void storeBlocks(S s);

    /** Under the lock, after its reservation is returned: the sequence's blocks released or kept. */
    abstract void releaseBlocks(S s);

    /** A sequence finished well: counted before its listener hears of it. */
    abstract void finished(S s);

    /**
     * Queues a request; tokens go to {@code listener} as they are chosen.
     *
     * @throws IllegalArgumentException empty prompt, token outside the vocabulary, max tokens below 1,
     *                                  or prompt + max tokens beyond the context or this node's KV
     */
    @Override
    public final DecodeEngine.Handle submit(DecodeEngine.Request request, DecodeEngine.Listener listener) {
        SequenceState.validate(request, vocab, context);
        S seq = newSequence(request, listener);
        if (seq.blocksNeeded > capacity) {
            throw new IllegalArgumentException("prompt + max_tokens needs " + seq.blocksNeeded + " KV blocks; this node has "
                    + capacity);
        }
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("decode engine is closed");
            }
            waiting.add(seq);
            work.signal();
        } finally {
            lock.unlock();
        }
        return seq;
    }

    /**
     * Admits one sequence at a time and prefills it before looking at the next, so the next one
     * already finds the blocks this one computed (two questions about one document arriving
     * together compute it once); then one step for everything running.
     */
    private void run() {
        while (!closed) {
            S next = null;
            lock.lock();
            try {
                while (!closed && running.isEmpty() && waiting.isEmpty()) {
                    work.awaitUninterruptibly();
                }
                if (!waiting.isEmpty() && running.size() < maxBatch) {
                    Cost cost = cost(waiting.peek());
                    pinned = pinnedBlocks();
                    if (reservedBlocks + pinned + cost.own() + cost.newlyPinned() <= capacity) {
                        next = waiting.poll();
                        next.queueSeconds = (System.nanoTime() - next.submittedNanos) / 1e9;
                        next.reservedBlocks = cost.own();
                        reservedBlocks += cost.own();
                        admitted(next);
                    }
                }
            } finally {
                lock.unlock();
            }
            if (closed) {
                break;
            }
            if (next != null) {
                running.add(next);
                try {
                    prefill(next);
                } catch (RuntimeException e) {
                    // this sequence's own failure (its blocks, the store): it ends, the batch runs on
                    LOG.log(Level.SEVERE, "prefill failed", e);
                    next.fail(e);
                }
                continue;
            }
            try {
                retireFinished();
                runningCount = running.size();
                if (!running.isEmpty()) {
                    step(running);
                    retireFinished();
                }
                runningCount = running.size();
            } catch (RuntimeException e) {
                // a bug, not bad input (that is refused at submit): fail the sequences in flight, keep serving
                LOG.log(Level.SEVERE, "decode step failed", e);
                for (S s : running) {
                    s.fail(e);
                }
                retireFinished();
            }
        }
    }

    private void retireFinished() {
        Iterator<S> it = running.iterator();
        while (it.hasNext()) {
            S s = it.next();
            if (s.finish == null && s.cancelled) {
                s.finish = "cancelled";
            }
            if (s.finish == null) {
                continue;
            }
            it.remove();
            storeBlocks(s);
            lock.lock();
            try {
                reservedBlocks -= s.reservedBlocks;
                releaseBlocks(s);
                pinned = pinnedBlocks();
            } finally {
                lock.unlock();
            }
            // last: whoever hears of the end finds the blocks already kept
            if (!s.failed) {
                finished(s);
                s.listener.onFinish(s.finished());
            }
        }
    }

    @Override
    public int running() {
        return runningCount;
    }

    @Override
    public int waiting() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    /**
     * KV blocks not reserved by a running sequence. Cached blocks count as free: admission evicts
     * them when it needs the room (as vLLM counts its cached, unreferenced blocks).
     */
    @Override
    public long freeBlocks() {
        lock.lock();
        try {
            return capacity - reservedBlocks - pinned;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public long totalBlocks() {
        return capacity;
    }

    /** Stops the loop (sequences in flight end with it). */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            loop.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
