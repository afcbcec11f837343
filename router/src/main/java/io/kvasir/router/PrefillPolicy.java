package io.kvasir.router;

import io.kvasir.proto.internal.v1.DecodeRequest;

/** Whether a request's prompt goes to a prefill node first; returns what the decode node is sent. */
@FunctionalInterface
public interface PrefillPolicy {
    DecodeRequest before(DecodeRequest request);

    /** Every prompt is prefilled by the decode node that serves it. */
    PrefillPolicy NONE = request -> request;
}
