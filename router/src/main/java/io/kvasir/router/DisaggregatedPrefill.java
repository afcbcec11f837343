package io.kvasir.router;

import java.util.List;
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

/**
 * Conditional disaggregation: the router asks the KV store's index how much of the prompt is
 * cached; if the uncached part is at least {@code threshold} tokens, a prefill node computes it
 * (and stores its blocks) first, and the decode node starts from the stored blocks and the first
 * token; a short uncached part costs the decode node less than the hop, so it prefills it itself.
 * A prefill node that fails costs only time: the decode node then prefills the whole prompt.
 */
public final class DisaggregatedPrefill implements PrefillPolicy {
    private static final Logger LOG = Logger.getLogger(DisaggregatedPrefill.class.getName());

    private final KvStoreClient store;
    private final BlockKeyChain chain;
    private final List<ManagedChannel> prefillNodes;
    private final int threshold;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicLong prefilled = new AtomicLong();
    private final AtomicLong direct = new AtomicLong();

    public DisaggregatedPrefill(KvStoreClient store, BlockKeyChain chain, List<ManagedChannel> prefillNodes, int threshold) {
        this.store = store;
        this.chain = chain;
        this.prefillNodes = List.copyOf(prefillNodes);
        this.threshold = threshold;
    }

    @Override
    public DecodeRequest before(DecodeRequest request) {
        int[] prompt = request.getPromptTokensList().stream().mapToInt(Integer::intValue).toArray();
        if (prefillNodes.isEmpty() || prompt.length < threshold) {
            direct.incrementAndGet();
            return request;
        }
        int cachedTokens;
        try {
            var keys = chain.keys(request.getTenant(), prompt, prompt.length - 1);
            cachedTokens = keys.isEmpty() ? 0 : store.lookup(request.getTenant(), keys).getCachedPrefixBlocks()
                    * chain.blockSize();
        } catch (KvStoreException e) {
            cachedTokens = 0;
        }
        if (prompt.length - cachedTokens < threshold) {
            direct.incrementAndGet();
            return request;
        }
        ManagedChannel node = prefillNodes.get(Math.floorMod(next.getAndIncrement(), prefillNodes.size()));
        try {
            PrefillResponse r = PrefillServiceGrpc.newBlockingStub(node).withDeadlineAfter(10, TimeUnit.MINUTES)
                    .prefill(PrefillRequest.newBuilder().setTenant(request.getTenant())
                            .addAllPromptTokens(request.getPromptTokensList()).setTemperature(request.getTemperature())
                            .setTopP(request.getTopP()).setTopK(request.getTopK()).setSeed(request.getSeed()).build());
            prefilled.incrementAndGet();
            return request.toBuilder().setPrefilled(true).setFirstToken(r.getFirstToken())
                    .setCachedPromptTokens(r.getCachedPromptTokens()).build();
        } catch (StatusRuntimeException e) {
            LOG.log(Level.WARNING, "prefill node failed (" + e.getStatus() + "); the decode node prefills instead");
            direct.incrementAndGet();
            return request;
        }
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
