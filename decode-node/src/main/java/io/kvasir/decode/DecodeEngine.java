package io.kvasir.decode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.engine.Model;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.model.Batch;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.node.BlockKeyChain;
import io.kvasir.node.PrefixCache;

/**
 * Continuous batching: one step loop runs every live sequence together, one token each, so the
 * weights are read once per step for all of them; sequences join between steps (their prompt
 * prefilled first, from the prefix cache where it has the blocks) and leave the moment they finish
 * or are cancelled, handing their full blocks to the cache.
 *
 * <p>Admission reserves a sequence's worst case (prompt + max tokens) in KV blocks, so a running
 * sequence never runs out of KV; requests wait while the pool is short, in one queue per tenant
 * served round-robin ({@link FairQueue}), so one tenant's flood does not starve the others. (Preemption, as vLLM
 * does it, would admit more at the risk of recomputation; not yet.)
 */
public final class DecodeEngine extends BatchingEngine<DecodeEngine.Sequence> {
    private static final Logger LOG = Logger.getLogger(DecodeEngine.class.getName());

    /**
     * One generation request, already tokenized and validated by the caller's API layer.
     *
     * @param firstToken  -1, or the first token a prefill node chose (its full blocks are in the store)
     * @param cachedBefore with a first token: the prompt tokens cached before that prefill (for usage)
     * @param ssdBefore    of those, the ones the prefill node read from the store's SSD tier
     * @param ignoreEos    generate max tokens whatever they are (vLLM's ignore_eos)
     * @param cacheOwner   whose cache the blocks belong to: the tenant, or a shared namespace it may use
     * @param weight       the tenant's share of admissions while requests wait (at least 1)
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

    /** Receives a sequence's tokens; called on the step loop's thread, so it must not block. */
    public interface Listener {
        void onToken(int token);

        void onFinish(Finish finish);

        default void onError(RuntimeException e) {
        }
    }

    /** A submitted sequence, as its submitter sees it. */
    public interface Handle {
        void cancel();
    }

    private final Model model;
    private final LlamaModel transformer;
    private final PrefixCache cache;
    private final KvBlockPool pool;
    private final int blockSize;
    private final int vocab;
    private final ForwardBuffers prefillBuffers;
    private final ForwardBuffers stepBuffers;
    private final Batch batch;
    private final DecodeMetrics metrics = new DecodeMetrics();
    private final long[] stepsByBatchSize;
    /**
     * The node's local tier: finished sequences' full blocks, kept in the pool by key, least recently
     * used first. A new sequence shares the ones its prompt starts with (a block is never written once
     * full), as vLLM's prefix caching does: admission reserves only the blocks it adds, and a block a
     * running sequence holds is never evicted. Loop thread only; heartbeats read {@link #resident}.
     */
    private final LinkedHashMap<BlockKey, LocalBlock> local = new LinkedHashMap<>(256, 0.75f, true);
    private volatile List<NodeHeartbeat.Resident> resident = List.of();
    private final BlockKeyChain chain;
    private volatile long localHitTokens; // written by the loop thread only
    /** Local blocks running sequences put there from their own reservation; loop thread only. */
    private int sharedByRunning;

    private record LocalBlock(String tenant, int blockId) {
    }

    public DecodeEngine(Model model, PrefixCache cache, int blockSize, int maxBlocks, int maxBatch, int prefillChunk) {
        super(maxBlocks, maxBatch, model.transformer().config().vocabSize(), model.transformer().config().contextLength());
        this.model = model;
        this.transformer = model.transformer();
        this.cache = cache;
        this.blockSize = blockSize;
        this.vocab = transformer.config().vocabSize();
        this.pool = transformer.newKvPool(blockSize, maxBlocks);
        this.prefillBuffers = transformer.newBuffers(prefillChunk);
        this.stepBuffers = transformer.newBuffers(maxBatch, maxBatch);
        this.batch = new Batch(maxBatch);
        this.stepsByBatchSize = new long[maxBatch + 1];
        this.chain = transformer.config().widestWindow() == Integer.MAX_VALUE ? cache.chain() : null;
        startLoop("decode-loop");
    }

    public KvBlockPool pool() {
        return pool;
    }

    /** Steps run so far, by how many sequences they carried (index = batch size). */
    public long[] stepsByBatchSize() {
        lock.lock();
        try {
            return stepsByBatchSize.clone();
        } finally {
            lock.unlock();
        }
    }

    @Override
    Sequence newSequence(Request request, Listener listener) {
        return new Sequence(request, listener);
    }

    @Override
    Cost cost(Sequence s) {
        int[] run = localRun(s);
        int newlyPinned = 0;
        for (int id : run) {
            if (pool.holders(id) == 1) { // only the local tier holds it: admitting s takes it out of eviction's reach
                newlyPinned++;
            }
        }
        return new Cost(s.blocksNeeded - run.length, newlyPinned);
    }

    @Override
    int pinnedBlocks() {
        int pinned = 0;
        for (LocalBlock b : local.values()) {
            if (pool.holders(b.blockId()) > 1) {
                pinned++;
            }
        }
        return pinned - sharedByRunning; // those are inside their sequence's reservation
    }

    /** The keys of the prompt's full blocks, hashed once per sequence. */
    private List<BlockKey> promptKeys(Sequence s) {
        if (s.keys == null) {
            s.keys = chain.keys(s.request.cacheOwner(), s.request.prompt(), s.request.prompt().length);
        }
        return s.keys;
    }

    /** Shares the local blocks the prompt starts with, then evicts what the reservations need. */
    @Override
    void admitted(Sequence s) {
        metrics.queueTime.observe(s.queueSeconds);
        int[] run = localRun(s);
        for (int id : run) {
            pool.retain(id);
        }
        s.table.adopt(run);
        // every reservation fits beside the local tier (less the blocks running sequences put there,
        // which their reservations count already); blocks a sequence holds are never evicted
        evictLocalBeyond(pool.maxBlocks() - reservedBlocks + sharedByRunning);
    }

    /** The local blocks holding the longest run of the prompt's leading full blocks. */
    private int[] localRun(Sequence s) {
        if (chain == null) {
            return new int[0];
        }
        int[] prompt = s.request.prompt();
        List<BlockKey> keys = promptKeys(s).subList(0,
                (s.request.firstToken() >= 0 ? prompt.length : prompt.length - 1) / blockSize);
        int[] run = new int[keys.size()];
        int n = 0;
        for (BlockKey key : keys) {
            LocalBlock held = local.get(key);
            if (held == null || !held.tenant().equals(s.request.cacheOwner())) {
                break;
            }
            run[n++] = held.blockId();
        }
        touchTailFirst(keys, n);
        return java.util.Arrays.copyOf(run, n);
    }

    /**
     * Marks a prefix's first {@code n} blocks used, its last block least recently: eviction then
     * takes a prefix from its tail, as vLLM frees a sequence's blocks in reverse. Taking the head
     * first would leave every later block unreachable (a run starts at block 0) yet still cached.
     */
    private void touchTailFirst(List<BlockKey> keys, int n) {
        for (int b = n - 1; b >= 0; b--) {
            local.get(keys.get(b));
        }
    }

    /**
     * Loads the cached prefix, computes the rest of the prompt and chooses the first token. A
     * request a prefill node already ran loads every full block and recomputes only the partial
     * last one (at most blockSize - 1 tokens: cheaper than fetching it, and never stale).
     */
    @Override
    void prefill(Sequence s) {
        int[] prompt = s.request.prompt();
        boolean prefilled = s.request.firstToken() >= 0;
        int limit = prefilled ? prompt.length : prompt.length - 1;
        int fromLocal = s.table.numTokens(); // shared at admission
        PrefixCache.Loaded found = cache.load(s.request.cacheOwner(), prompt, limit, s.table);
        int loaded = found.tokens();
        if (prefilled && s.request.cachedBefore() > fromLocal) {
            // the prefill node's hits; what this node then read from the store it had just computed
            s.cachedTokens = s.request.cachedBefore();
            s.cachedSsd = s.request.ssdBefore();
        } else {
            s.cachedTokens = prefilled ? fromLocal : loaded;
            s.cachedLocal = fromLocal;
            s.cachedSsd = prefilled ? 0 : found.fromSsd();
        }
        s.storedFrom = loaded / blockSize;
        localHitTokens = localHitTokens + fromLocal;
        metrics.prompt(prompt.length, s.cachedTokens);
        if (loaded < prompt.length) {
            transformer.forward(prompt, loaded, prompt.length, s.table, prefillBuffers);
        }
        shareComputedBlocks(s, fromLocal / blockSize);
        if (prefilled) {
            s.sampler.skip();
            s.accept(s.request.firstToken());
        } else {
            s.accept(s.sampler.sample(prefillBuffers.logits, 0));
        }
    }

    /**
     * Puts the prompt's full blocks from {@code from} on into the local tier as soon as they hold their
     * KV (a full block never changes), so sequences on the same prefix that arrive while this one
     * runs share them instead of computing them again. They stay the sequence's own in the
     * reservations until it ends.
     */
    private void shareComputedBlocks(Sequence s, int from) {
        if (chain == null) {
            return;
        }
        List<BlockKey> keys = promptKeys(s);
        int full = Math.min(keys.size(), s.table.numTokens() / blockSize);
        for (int b = from; b < full; b++) {
            if (!local.containsKey(keys.get(b))) {
                pool.retain(s.table.blockId(b));
                local.put(keys.get(b), new LocalBlock(s.request.cacheOwner(), s.table.blockId(b)));
                s.shared++;
            }
        }
        touchTailFirst(keys, full);
        sharedByRunning += s.shared;
        publishResident();
    }

    /**
     * Keeps a finished sequence's full blocks in the local tier (its hold passes to the tier); drops
     * its hold on the rest, shared blocks the tier already has included.
     */
    private void keepLocal(Sequence s) {
        sharedByRunning -= s.shared; // from now on their holders, if any, pin them
        if (chain == null || s.failed) {
            s.table.release();
            return;
        }
        int full = s.table.numTokens() / blockSize;
        List<BlockKey> keys = chain.extend(s.request.cacheOwner(), promptKeys(s), s.tokens(), full * blockSize);
        int[] ids = s.table.detach();
        for (int b = 0; b < ids.length; b++) {
            if (b < full && !local.containsKey(keys.get(b))) {
                local.put(keys.get(b), new LocalBlock(s.request.cacheOwner(), ids[b]));
            } else {
                pool.free(ids[b]);
            }
        }
        touchTailFirst(keys, full);
        publishResident();
    }

    /** Frees least recently used local blocks no sequence holds until at most {@code room} remain. */
    private void evictLocalBeyond(int room) {
        var it = local.values().iterator();
        boolean changed = false;
        while (local.size() > Math.max(0, room) && it.hasNext()) {
            int id = it.next().blockId();
            if (pool.holders(id) > 1) {
                continue; // a running sequence reads it
            }
            pool.free(id);
            it.remove();
            changed = true;
        }
        if (changed) {
            publishResident();
        }
    }

    private void publishResident() {
        List<NodeHeartbeat.Resident> now = new ArrayList<>(local.size());
        local.forEach((key, held) -> now.add(new NodeHeartbeat.Resident(held.tenant(), key)));
        resident = List.copyOf(now);
    }

    /** Blocks this node's local tier holds, for its heartbeat. */
    @Override
    public List<NodeHeartbeat.Resident> resident() {
        return resident;
    }

    /** Prompt tokens served from the local tier so far. */
    public long localHitTokens() {
        return localHitTokens;
    }

    /** Sequences running or waiting: the load a heartbeat reports. */
    public int load() {
        return running() + waiting();
    }

    /** Blocks the local tier holds now. */
    public int localBlocks() {
        return resident.size();
    }

    /** This node's metrics in Prometheus' text format. */
    @Override
    public String metricsText(String modelName) {
        return metrics.render(this, modelName);
    }

    /** One token for every running sequence, in one forward pass. */
    @Override
    void step(List<Sequence> running) {
        batch.clear();
        for (Sequence s : running) {
            batch.add(s.last, s.table.numTokens(), s.table, true);
        }
        transformer.forward(batch, stepBuffers);
        lock.lock();
        try {
            stepsByBatchSize[running.size()]++;
        } finally {
            lock.unlock();
        }
        for (int r = 0; r < running.size(); r++) {
            Sequence s = running.get(r);
            s.accept(s.sampler.sample(stepBuffers.logits, r * vocab));
        }
    }

    /** Every full block, prompt and generated alike, so the next turn finds them. */
    @Override
    void storeBlocks(Sequence s) {
        if (s.failed) {
            return;
        }
        int full = s.table.numTokens() / blockSize;
        try {
            cache.store(s.request.cacheOwner(), s.tokens(), s.table, s.storedFrom, full);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "could not hand blocks to the prefix cache", e);
        }
    }

    @Override
    void releaseBlocks(Sequence s) {
        keepLocal(s);
    }

    @Override
    void finished(Sequence s) {
        metrics.generated(s.generated);
    }

    /** A sequence in the engine: its KV here, the rest in {@link SequenceState}. */
    final class Sequence extends SequenceState {
        final BlockTable table = new BlockTable(pool);
        /** The keys of the prompt's full blocks, once first needed ({@link #promptKeys}). */
        List<BlockKey> keys;
        /** Blocks of its own it put into the local tier while running. */
        int shared;

        Sequence(Request request, Listener listener) {
            super(request, listener, vocab, blockSize, model.tokenizer());
        }
    }
}
