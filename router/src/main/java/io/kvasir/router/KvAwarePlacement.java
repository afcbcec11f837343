package io.kvasir.router;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.node.BlockKeyChain;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.PrefillRequest;
import io.kvasir.proto.internal.v1.PrefillResponse;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;
import io.kvasir.proto.kv.v1.LookupResponse;
import io.kvasir.telemetry.Telemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;

/**
 * Placement from the KV store's index, one lookup per request. KV-aware: the decode node whose
 * local tier (announced in its heartbeat) holds the longest run of the prompt's leading blocks is
 * preferred. Conditional disaggregation: if the part cached nowhere is at least {@code threshold}
 * tokens, a prefill node computes it (and stores its blocks) first, and the decode node starts from
 * the stored blocks and the first token; a short uncached part costs the decode node less than the
 * hop, so it prefills it itself. A prefill node that fails costs only time: the decode node then
 * prefills the whole prompt.
 *
 * <p>Prompts whose prefix this router is already having prefilled (users asking about a document
 * whose first question is still being computed) wait for that prefill instead of queueing behind
 * other prompts at the prefill node, then take the cached prefix like any later request.
 */
public final class KvAwarePlacement implements PlacementPolicy {
    private static final Logger LOG = Logger.getLogger(KvAwarePlacement.class.getName());

    private final KvStoreClient store;
    private final BlockKeyChain chain;
    private final List<ManagedChannel> prefillNodes;
    private final int threshold;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicLong prefilled = new AtomicLong();
    private final AtomicLong direct = new AtomicLong();
    /** Blocks a prefill node is computing for this router now, each with the prefill that stores it. */
    private final Map<BlockKey, CompletableFuture<Void>> computing = new ConcurrentHashMap<>();
    private final AtomicLong coalesced = new AtomicLong();
    /**
     * The decode node this router last sent each block key to, most recent last: a prompt's blocks
     * are in that node's pool from its prefill on, seconds before its heartbeat says so (llm-d's
     * approximate prefix routing). Bounded; guarded by itself.
     */
    private final Map<BlockKey, String> sentTo = new java.util.LinkedHashMap<>(1024, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<BlockKey, String> eldest) {
            return size() > 1 << 16;
        }
    };

    public KvAwarePlacement(KvStoreClient store, BlockKeyChain chain, List<ManagedChannel> prefillNodes, int threshold) {
        this.store = store;
        this.chain = chain;
        this.prefillNodes = List.copyOf(prefillNodes);
        this.threshold = threshold;
    }

    private static String cacheOwner(DecodeRequest request) {
        return request.getCacheOwner().isEmpty() ? request.getTenant() : request.getCacheOwner();
    }

    @Override
    public Plan plan(DecodeRequest request) {
        int[] prompt = request.getPromptTokensList().stream().mapToInt(Integer::intValue).toArray();
        List<BlockKey> keys = chain.keys(cacheOwner(request), prompt, prompt.length - 1);
        Where where = lookup(request, keys);
        if (!prefillNodes.isEmpty() && prompt.length - where.cachedTokens() >= threshold) {
            CompletableFuture<Void> pending = computingRun(keys, where.cachedTokens() / chain.blockSize());
            if (pending != null) {
                coalesced.incrementAndGet();
                try {
                    pending.get(10, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (ExecutionException | TimeoutException e) {
                    // that prefill failed or is stuck: this request goes its own way
                }
                where = lookup(request, keys);
            }
        }
        if (prefillNodes.isEmpty() || prompt.length - where.cachedTokens() < threshold) {
            direct.incrementAndGet();
            return new Plan(request, nearest(keys, where), keys);
        }
        CompletableFuture<Void> mine = new CompletableFuture<>();
        List<BlockKey> claimed = new ArrayList<>();
        for (BlockKey k : keys.subList(where.cachedTokens() / chain.blockSize(), keys.size())) {
            if (computing.putIfAbsent(k, mine) == null) {
                claimed.add(k);
            }
        }
        try {
            return prefill(request, nearest(keys, where), keys);
        } finally {
            claimed.forEach(k -> computing.remove(k, mine));
            mine.complete(null);
        }
    }

    /** What the store knows of the prompt: its cached leading tokens, and the node holding most of them. */
    private record Where(int cachedTokens, String nearest, int nearestRun) {
    }

    /** The node holding the longest run of the prompt's blocks, by its heartbeat or by where this router sent them. */
    private String nearest(List<BlockKey> keys, Where where) {
        synchronized (sentTo) {
            int run = 0;
            while (run < keys.size() && sentTo.containsKey(keys.get(run))) {
                run++;
            }
            return run > where.nearestRun() ? sentTo.get(keys.get(run - 1)) : where.nearest();
        }
    }

    @Override
    public void routed(Plan plan, String node) {
        synchronized (sentTo) {
            plan.keys().forEach(k -> sentTo.put(k, node));
        }
    }

    private Where lookup(DecodeRequest request, List<BlockKey> keys) {
        if (keys.isEmpty()) {
            return new Where(0, null, 0);
        }
        Span span = Telemetry.childSpan("prefix lookup");
        try (Scope ignored = span.makeCurrent()) {
            LookupResponse where = store.lookup(cacheOwner(request), keys);
            String nearest = longestResidentRun(where);
            Where found = new Where(where.getCachedPrefixBlocks() * chain.blockSize(), nearest, residentRun(where, nearest));
            span.setAttribute("kvasir.blocks", keys.size());
            span.setAttribute("kvasir.cached_tokens", found.cachedTokens());
            span.setAttribute("kvasir.nearest_node", String.valueOf(nearest));
            span.setAttribute("kvasir.nearest_resident_blocks", found.nearestRun());
            return found;
        } catch (KvStoreException e) {
            LOG.log(Level.FINE, "KV store lookup failed; placing without it", e);
            span.setStatus(StatusCode.ERROR, e.toString());
            return new Where(0, null, 0);
        } finally {
            span.end();
        }
    }

    /**
     * The prefill computing the blocks that follow the cached ones, when it would leave less than the
     * threshold to compute (waiting for it beats computing them again); else null.
     */
    private CompletableFuture<Void> computingRun(List<BlockKey> keys, int cachedBlocks) {
        int end = cachedBlocks;
        while (end < keys.size() && computing.containsKey(keys.get(end))) {
            end++;
        }
        if (end == cachedBlocks || (keys.size() - end) * chain.blockSize() >= threshold) {
            return null;
        }
        return computing.get(keys.get(end - 1));
    }

    private Plan prefill(DecodeRequest request, String nearest, List<BlockKey> keys) {
        ManagedChannel node = prefillNodes.get(Math.floorMod(next.getAndIncrement(), prefillNodes.size()));
        Span span = Telemetry.childSpan("prefill");
        span.setAttribute("kvasir.prefill_node", node.authority());
        try (Scope ignored = span.makeCurrent()) {
            // a 128K-token prompt takes minutes on a CPU: the deadline grows with the prompt
            long deadlineMs = TimeUnit.MINUTES.toMillis(10) + 10L * request.getPromptTokensCount();
            PrefillResponse r = PrefillServiceGrpc.newBlockingStub(node).withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS)
                    .prefill(PrefillRequest.newBuilder().setTenant(cacheOwner(request)) // the prefill node caches for it
                            .addAllPromptTokens(request.getPromptTokensList()).setSampling(request.getSampling()).build());
            prefilled.incrementAndGet();
            span.setAttribute("kvasir.cached_tokens", r.getCachedPromptTokens());
            span.setAttribute("kvasir.stored_blocks", r.getStoredBlocks());
            return new Plan(request.toBuilder().setPrefilled(true).setFirstToken(r.getFirstToken())
                    .setCachedPromptTokens(r.getCachedPromptTokens()).setCachedSsdTokens(r.getCachedSsdTokens()).build(),
                    nearest, keys);
        } catch (StatusRuntimeException e) {
            LOG.log(Level.WARNING, "prefill node failed (" + e.getStatus() + "); the decode node prefills instead");
            span.setStatus(StatusCode.ERROR, e.getStatus().toString());
            direct.incrementAndGet();
            return new Plan(request, nearest, keys);
        } finally {
            span.end();
        }
    }

    /** The node listed on the longest run of leading blocks (the prompt's prefix in its local tier). */
    static String longestResidentRun(LookupResponse where) {
        Map<String, Integer> run = new HashMap<>();
        String best = null;
        int bestRun = 0;
        for (int i = 0; i < where.getLocationsCount(); i++) {
            for (String node : where.getLocations(i).getNodesList()) {
                if (run.getOrDefault(node, 0) == i) { // still unbroken from block 0
                    run.put(node, i + 1);
                    if (i + 1 > bestRun) {
                        bestRun = i + 1;
                        best = node;
                    }
                }
            }
        }
        return best;
    }

    /** Leading blocks {@code node} holds by the lookup. */
    private static int residentRun(LookupResponse where, String node) {
        int run = 0;
        while (node != null && run < where.getLocationsCount() && where.getLocations(run).getNodesList().contains(node)) {
            run++;
        }
        return run;
    }

    /** Requests sent through a prefill node so far. */
    public long prefilled() {
        return prefilled.get();
    }

    /** Requests that waited for another request's prefill of their prefix instead of queueing for their own. */
    public long coalesced() {
        return coalesced.get();
    }

    /** Requests whose prompt the decode node prefilled itself. */
    public long direct() {
        return direct.get();
    }
}
