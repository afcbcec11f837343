package io.kvasir.engine.loop;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntPredicate;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.engine.RequestCheck;
import io.kvasir.engine.kv.PrefixLostException;
import io.kvasir.engine.sampling.Grammar;
import io.kvasir.engine.sampling.Grammars;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.sampling.TokenLogprobs;

/**
 * The engine loop, one per node: continuous batching over a {@link BlockManager} and a
 * {@link ForwardPass}. Each {@link #step} is schedule, run, postprocess:
 * <ol>
 *   <li><b>schedule</b> — the next waiting sequence in the fair queue is admitted when its worst
 *       case (prompt + max tokens, in blocks) can be reserved, so a running sequence never runs out
 *       of KV. Requests wait in one queue per tenant served by weighted round robin
 *       ({@link FairQueue}): one tenant's flood does not starve the others;</li>
 *   <li><b>run</b> — an admitted sequence is prefilled (its cached prefix loaded, the rest
 *       computed, its first token chosen) before the next is considered, so the next one already
 *       finds the blocks this one computed: two questions about one document arriving together
 *       compute it once. With nobody to admit, one token for every running sequence in one pass,
 *       so the weights are read once per step for all of them;</li>
 *   <li><b>postprocess</b> — finished and cancelled sequences leave the batch, their full blocks
 *       kept by the block manager before their listener hears of the end.</li>
 * </ol>
 * (Preemption, as vLLM does it, would admit more at the risk of recomputation; not yet.) Streaming,
 * metrics and gRPC stay outside: listeners and an {@link Observer} watch the loop.
 *
 * @param <K> one sequence's KV, as the block manager and the forward pass share it
 */
public final class EngineLoop<K> implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(EngineLoop.class.getName());

    /**
     * One generation request, already tokenized.
     *
     * @param firstToken   -1, or the first token a prefill node chose (its full blocks are in the store)
     * @param cachedBefore with a first token: the prompt tokens cached before that prefill (for usage)
     * @param ignoreEos    generate max tokens whatever they are (vLLM's ignore_eos)
     * @param cacheOwner   whose cache the blocks belong to: the tenant, or a shared namespace it may use
     * @param weight       the tenant's share of admissions while requests wait (at least 1)
     * @param ssdBefore    of {@code cachedBefore}, the tokens the prefill node read from the store's SSD tier
     */
    public record Request(String tenant, int[] prompt, int maxTokens, SamplingParams sampling, int firstToken,
            int cachedBefore, boolean ignoreEos, String cacheOwner, int weight, int ssdBefore) {
        public Request(String tenant, int[] prompt, int maxTokens, SamplingParams sampling) {
            this(tenant, prompt, maxTokens, sampling, -1, 0, false);
        }

        public Request(String tenant, int[] prompt, int maxTokens, SamplingParams sampling, int firstToken,
                int cachedBefore, boolean ignoreEos) {
            this(tenant, prompt, maxTokens, sampling, firstToken, cachedBefore, ignoreEos, tenant, 1, 0);
        }
    }

    /**
     * How a sequence ended: {@code stop} (end-of-generation), {@code length}, or {@code cancelled};
     * {@code queueSeconds}: how long it waited for admission. Of the cached prompt tokens,
     * {@code cachedLocalTokens} came from this node's pool and {@code cachedSsdTokens} from the store's
     * SSD tier; the rest from its host tier.
     */
    public record Finish(String reason, int promptTokens, int cachedPromptTokens, int completionTokens,
            double queueSeconds, int cachedLocalTokens, int cachedSsdTokens) {
        public int cachedHostTokens() {
            return cachedPromptTokens - cachedLocalTokens - cachedSsdTokens;
        }
    }

    /** Receives a sequence's tokens; called on the loop's thread, so it must not block. */
    public interface Listener {
        void onToken(int token);

        /** A token with its log-probabilities, when the request asked for them (else null): as {@link #onToken(int)} by default. */
        default void onToken(int token, TokenLogprobs logprobs) {
            onToken(token);
        }

        void onFinish(Finish finish);

        default void onError(RuntimeException e) {
        }

        /** The sequence left the queue, {@code queuedNanos} after it was submitted. */
        default void onAdmitted(long queuedNanos) {
        }

        /**
         * The loop is about to run a part of this sequence's work ({@code "prefix lookup"},
         * {@code "prefill"}, {@code "store blocks"}) and closes what this returns when that part is
         * done, on the same thread: a submitter traces the sequence with it (the store calls made in
         * between are then the phase's children).
         */
        default Phase phase(String name) {
            return Phase.NONE;
        }
    }

    /** A part of a sequence's work, as {@link Listener#phase} opened it. */
    public interface Phase extends AutoCloseable {
        Phase NONE = () -> {
        };

        /** A figure of this part (tokens, blocks), for its trace. */
        default void set(String key, long value) {
        }

        @Override
        void close();
    }

    /** A submitted sequence, as its submitter sees it. */
    public interface Handle {
        void cancel();
    }

    /** Watches the loop from outside it (metrics); called on the loop's thread. */
    public interface Observer {
        Observer NONE = new Observer() {
        };

        default void admitted(double queueSeconds) {
        }

        /** A prompt ran: {@code cachedTokens} of its {@code promptTokens} were not computed here. */
        default void prefilled(int promptTokens, int cachedTokens) {
        }

        /** A decode step ran for {@code batchSize} sequences. */
        default void stepped(int batchSize) {
        }

        /** A sequence ended well, {@code runSeconds} after its admission. */
        default void finished(Finish finish, double runSeconds) {
        }
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final FairQueue<Sequence<K>> waiting = new FairQueue<>(s -> s.request.tenant(), s -> s.request.weight());
    /** Loop thread only. */
    private final List<Sequence<K>> running = new ArrayList<>();
    private final BlockManager<K> blocks;
    private final ForwardPass<K> forward;
    private final IntPredicate endOfGeneration;
    /** Structured output's compiled expressions. */
    private final Grammars grammars;
    private final Observer observer;
    private final int vocab;
    private final int context;
    private final int maxBatch;
    /** Requests that may wait for admission at once; beyond, {@link #submit} refuses (a flood costs no memory). */
    public static final int DEFAULT_MAX_WAITING = 1024;

    private Thread thread;
    private volatile int maxWaiting = DEFAULT_MAX_WAITING;
    private volatile int runningCount;
    private volatile boolean closed;

    /** {@code maxBatch}: sequences per step; {@code context}: the model's context length. */
    public EngineLoop(BlockManager<K> blocks, ForwardPass<K> forward, io.kvasir.engine.tokenizer.Tokenizer tokenizer,
            int context, int maxBatch, Observer observer) {
        this.blocks = blocks;
        this.forward = forward;
        this.endOfGeneration = tokenizer::isEndOfGeneration;
        this.grammars = new Grammars(tokenizer, forward.vocabSize());
        this.observer = observer;
        this.vocab = forward.vocabSize();
        this.context = context;
        this.maxBatch = maxBatch;
    }

    /** At most {@code max} requests wait for admission at once (default {@link #DEFAULT_MAX_WAITING}). */
    public EngineLoop<K> limitWaiting(int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max waiting must be at least 1, got " + max);
        }
        this.maxWaiting = max;
        return this;
    }

    /** Runs {@link #step} on a thread of its own until {@link #close}. */
    public EngineLoop<K> start(String threadName) {
        thread = Thread.ofPlatform().name(threadName).daemon().start(this::run);
        return this;
    }

    /**
     * Queues a request; tokens go to {@code listener} as they are chosen.
     *
     * @throws IllegalArgumentException empty prompt, token outside the vocabulary, max tokens below 1,
     *                                  or prompt + max tokens beyond the context or this node's KV
     * @throws IllegalStateException    the loop is closed
     * @throws QueueFullException       {@link #limitWaiting} requests wait already
     */
    public Handle submit(Request request, Listener listener) {
        RequestCheck.prompt(request.prompt(), vocab, context);
        if (request.firstToken() >= vocab) {
            throw new RequestCheck.Invalid("first_token", request.firstToken() + " is outside the vocabulary [0, "
                    + vocab + ")");
        }
        RequestCheck.generation(request.prompt().length, request.maxTokens(), context);
        int blocksNeeded = blocksNeeded(request, blocks.blockSize());
        if (blocksNeeded > blocks.totalBlocks()) {
            throw new IllegalArgumentException("prompt + max_tokens needs " + blocksNeeded + " KV blocks; this node has "
                    + blocks.totalBlocks());
        }
        Grammar grammar = request.sampling().structuredOutput() == null ? null
                : grammars.compile(request.sampling().structuredOutput());
        Sequence<K> seq = new Sequence<>(request, listener, blocks.open(request), vocab, blocksNeeded, endOfGeneration,
                grammar);
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("engine loop is closed");
            }
            if (waiting.size() >= maxWaiting) {
                throw new QueueFullException(waiting.size() + " requests wait for room on this node, its limit");
            }
            waiting.add(seq);
            work.signal();
        } finally {
            lock.unlock();
        }
        return seq;
    }

    /** A request's worst case in blocks of {@code blockSize} tokens: its prompt and max tokens. */
    public static int blocksNeeded(Request request, int blockSize) {
        return (request.prompt().length + request.maxTokens() + blockSize - 1) / blockSize;
    }

    /**
     * One turn: admits and prefills the next waiting sequence if its blocks can be reserved, else
     * runs one decode step for every running sequence; then retires those that finished. Only one
     * thread may step a loop. Returns false when there was nothing to do.
     */
    public boolean step() {
        Sequence<K> next = admitNext();
        if (next != null) {
            running.add(next);
            try {
                prefill(next);
            } catch (RuntimeException e) {
                // this sequence's own failure (its blocks, the store): it ends, the batch runs on
                LOG.log(Level.SEVERE, "prefill failed", e);
                next.fail(e);
            }
            return true;
        }
        try {
            retireFinished();
            runningCount = running.size();
            if (running.isEmpty()) {
                return false;
            }
            decode();
            retireFinished();
        } catch (RuntimeException e) {
            // a bug, not bad input (that is refused at submit): fail the sequences in flight, keep serving
            LOG.log(Level.SEVERE, "decode step failed", e);
            for (Sequence<K> s : running) {
                s.fail(e);
            }
            retireFinished();
        }
        runningCount = running.size();
        return true;
    }

    private void run() {
        while (!closed) {
            if (step()) {
                continue;
            }
            lock.lock();
            try {
                while (!closed && waiting.isEmpty()) {
                    work.awaitUninterruptibly();
                }
            } finally {
                lock.unlock();
            }
        }
    }

    /**
     * Schedule: the next waiting sequence, its worst case reserved; null when none fits now. Sequences
     * cancelled while they waited leave the queue here, never admitted or prefilled (they hold nothing).
     */
    private Sequence<K> admitNext() {
        List<Sequence<K>> cancelled = null; // rare: no list unless one is there
        Sequence<K> admitted = null;
        lock.lock();
        try {
            Sequence<K> next = waiting.peek();
            while (next != null && next.cancelled) {
                if (cancelled == null) {
                    cancelled = new ArrayList<>();
                }
                cancelled.add(waiting.poll());
                next = waiting.peek();
            }
            if (!closed && next != null && running.size() < maxBatch
                    && blocks.reserve(next.kv, next.request, next.blocksNeeded)) {
                admitted = waiting.poll();
                admitted.admittedNanos = System.nanoTime();
                admitted.queueSeconds = (admitted.admittedNanos - admitted.submittedNanos) / 1e9;
                observer.admitted(admitted.queueSeconds);
            }
        } finally {
            lock.unlock();
        }
        if (admitted != null) {
            admitted.admitted(admitted.admittedNanos - admitted.submittedNanos);
        }
        if (cancelled != null) {
            for (Sequence<K> s : cancelled) {
                s.finish = "cancelled";
                s.notifyFinished(s.finished()); // it never ran: nothing for the observer
            }
        }
        return admitted;
    }

    /**
     * Loads the cached prefix, computes the rest of the prompt and accepts the first token. A
     * request a prefill node already ran loads every full block and recomputes only the partial
     * last one (at most blockSize - 1 tokens: cheaper than fetching it, and never stale).
     */
    private void prefill(Sequence<K> s) {
        int[] prompt = s.request.prompt();
        boolean prefilled = s.request.firstToken() >= 0;
        // the last prompt token is computed here unless a prefill node chose the first token and no
        // log-probabilities of it are wanted (they need its logits)
        boolean needsLogits = !prefilled || s.request.sampling().logprobs() >= 0;
        BlockManager.Prefix found;
        try (Phase lookup = s.phase("prefix lookup")) {
            found = blocks.loadPrefix(s.kv, s.request, needsLogits ? prompt.length - 1 : prompt.length);
            lookup.set("cached_tokens", found.tokens());
        }
        float[] logits;
        try {
            logits = computePrompt(s, found);
        } catch (PrefixLostException e) {
            // the cache may cost time, never tokens: what arrived is dropped and the prompt computed
            LOG.warning("a cached prefix stopped arriving (" + e.getMessage() + "); computing the prompt");
            found = blocks.forgetLoadedPrefix(s.kv, s.request);
            logits = computePrompt(s, found);
        }
        s.countCached(found);
        observer.prefilled(prompt.length, s.cachedTokens);
        if (prefilled) {
            s.sampler.skip();
            int first = s.request.firstToken();
            s.accept(first, logits == null ? null : s.sampler.logprobsOf(logits, 0, first));
        } else {
            int first = s.sampler.sample(logits, 0);
            s.accept(first, s.sampler.lastLogprobs());
        }
    }

    /** The prompt after its cached prefix; the logits of its last token (null when all of it was cached). */
    private float[] computePrompt(Sequence<K> s, BlockManager.Prefix found) {
        int[] prompt = s.request.prompt();
        try (Phase compute = s.phase("prefill")) {
            compute.set("tokens", prompt.length - found.tokens());
            float[] logits = found.tokens() < prompt.length ? forward.prefill(s.kv, prompt, found.tokens()) : null;
            blocks.promptComputed(s.kv, s.request);
            return logits;
        }
    }

    /** Run: one token for every running sequence, in one forward pass. */
    private void decode() {
        int n = running.size();
        List<K> kvs = new ArrayList<>(n);
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            kvs.add(running.get(i).kv);
            tokens[i] = running.get(i).last;
        }
        float[] logits = forward.step(kvs, tokens);
        observer.stepped(n);
        for (int i = 0; i < n; i++) {
            Sequence<K> s = running.get(i);
            int token = s.sampler.sample(logits, i * vocab);
            s.accept(token, s.sampler.lastLogprobs());
        }
    }

    /** Postprocess: finished sequences leave, their blocks kept or freed before their listener hears. */
    private void retireFinished() {
        Iterator<Sequence<K>> it = running.iterator();
        while (it.hasNext()) {
            Sequence<K> s = it.next();
            if (s.finish == null && s.cancelled) {
                s.finish = "cancelled";
            }
            if (s.finish == null) {
                continue;
            }
            it.remove();
            try (Phase store = s.phase("store blocks")) {
                blocks.finish(s.kv, s.request, s.tokens(), !s.failed);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "could not release a finished sequence's blocks", e);
            }
            if (!s.failed) {
                Finish f = s.finished();
                observer.finished(f, (System.nanoTime() - s.admittedNanos) / 1e9);
                s.notifyFinished(f);
            }
        }
    }

    /** Sequences in the running batch. */
    public int running() {
        return runningCount;
    }

    /** Sequences waiting for admission. */
    public int waiting() {
        lock.lock();
        try {
            return waiting.size();
        } finally {
            lock.unlock();
        }
    }

    public BlockManager<K> blocks() {
        return blocks;
    }

    /** Stops the loop's thread; sequences in flight end with it. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
        if (thread != null) {
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
