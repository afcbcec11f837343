package io.kvasir.router;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.node.BlockKeyChain;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.PrefillRequest;
import io.kvasir.proto.internal.v1.PrefillResponse;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;
import io.kvasir.proto.kv.v1.LookupResponse;

/**
 * Placement from the KV store's index, one lookup per request. KV-aware: the decode node whose
 * local tier (announced in its heartbeat) holds the longest run of the prompt's leading blocks is
 * preferred. Conditional disaggregation: if the part cached nowhere is at least {@code threshold}
 * tokens, a prefill node computes it (and stores its blocks) first, and the decode node starts from
 * the stored blocks and the first token; a short uncached part costs the decode node less than the
 * hop, so it prefills it itself. A prefill node that fails costs only time: the decode node then
 * prefills the whole prompt.
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
        int cachedTokens = 0;
        String nearest = null;
        try {
            var keys = chain.keys(cacheOwner(request), prompt, prompt.length - 1);
            if (!keys.isEmpty()) {
                LookupResponse where = store.lookup(cacheOwner(request), keys);
                cachedTokens = where.getCachedPrefixBlocks() * chain.blockSize();
                nearest = longestResidentRun(where);
            }
        } catch (KvStoreException e) {
            LOG.log(Level.FINE, "KV store lookup failed; placing without it", e);
        }
        if (prefillNodes.isEmpty() || prompt.length - cachedTokens < threshold) {
            direct.incrementAndGet();
            return new Plan(request, nearest);
        }
        ManagedChannel node = prefillNodes.get(Math.floorMod(next.getAndIncrement(), prefillNodes.size()));
        try {
            PrefillResponse r = PrefillServiceGrpc.newBlockingStub(node).withDeadlineAfter(10, TimeUnit.MINUTES)
                    .prefill(PrefillRequest.newBuilder().setTenant(cacheOwner(request)) // the prefill node caches for it
                            .addAllPromptTokens(request.getPromptTokensList()).setTemperature(request.getTemperature())
                            .setTopP(request.getTopP()).setTopK(request.getTopK()).setSeed(request.getSeed()).build());
            prefilled.incrementAndGet();
            return new Plan(request.toBuilder().setPrefilled(true).setFirstToken(r.getFirstToken())
                    .setCachedPromptTokens(r.getCachedPromptTokens()).setCachedSsdTokens(r.getCachedSsdTokens()).build(),
                    nearest);
        } catch (StatusRuntimeException e) {
            LOG.log(Level.WARNING, "prefill node failed (" + e.getStatus() + "); the decode node prefills instead");
            direct.incrementAndGet();
            return new Plan(request, nearest);
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

    /** Requests sent through a prefill node so far. */
    public long prefilled() {
        return prefilled.get();
    }

    /** Requests whose prompt the decode node prefilled itself. */
    public long direct() {
        return direct.get();
    }
}
