package io.kvasir.router;

import io.kvasir.proto.internal.v1.DecodeRequest;

/** Where a request goes: through a prefill node first or not, and which decode node it prefers. */
@FunctionalInterface
public interface PlacementPolicy {
    /**
     * @param request     what the decode node is sent (marked prefilled if a prefill node ran it)
     * @param decodeNode  the id of the decode node whose local tier holds most of the prompt, or null
     */
    record Plan(DecodeRequest request, String decodeNode) {
    }

    Plan plan(DecodeRequest request);

    /** The request went to decode node {@code node} (its prefix will be there soon). */
    default void routed(DecodeRequest request, String node) {
    }

    /** Decode nodes prefill their own prompts; the least busy one takes each. */
    PlacementPolicy NONE = request -> new Plan(request, null);
}
