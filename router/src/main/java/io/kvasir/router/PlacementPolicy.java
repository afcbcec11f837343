package io.kvasir.router;

import java.util.List;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.proto.internal.v1.DecodeRequest;

/** Where a request goes: through a prefill node first or not, and which decode node it prefers. */
@FunctionalInterface
public interface PlacementPolicy {
    /**
     * @param request     what the decode node is sent (marked prefilled if a prefill node ran it)
     * @param decodeNode  the id of the decode node whose local tier holds most of the prompt, or null
     * @param keys        the prompt's block keys as the policy computed them (empty when it computes none)
     */
    record Plan(DecodeRequest request, String decodeNode, List<BlockKey> keys) {
        public Plan(DecodeRequest request, String decodeNode) {
            this(request, decodeNode, List.of());
        }
    }

    Plan plan(DecodeRequest request);

    /** The planned request went to decode node {@code node} (its prefix will be there soon). */
    default void routed(Plan plan, String node) {
    }

    /** Decode nodes prefill their own prompts; the least busy one takes each. */
    PlacementPolicy NONE = request -> new Plan(request, null);
}
