package io.kvasir.kv.client;

import java.nio.ByteBuffer;
import java.util.List;

import io.kvasir.proto.kv.v1.Tier;
import io.opentelemetry.api.trace.Span;

/** What a store call's span tells about its blocks (a no-op span outside a trace costs nothing). */
final class StoreSpans {
    private StoreSpans() {
    }

    /** A get's blocks: asked for, found, found on an SSD, and their bytes. */
    static void describeGet(Span span, List<ByteBuffer> blocks, Tier[] tiers) {
        if (!span.isRecording()) {
            return;
        }
        long bytes = 0, found = 0, ssd = 0;
        for (int i = 0; i < blocks.size(); i++) {
            if (blocks.get(i) != null) {
                found++;
                bytes += blocks.get(i).remaining();
                ssd += tiers[i] == Tier.TIER_SSD ? 1 : 0;
            }
        }
        span.setAttribute("kvasir.blocks", blocks.size());
        span.setAttribute("kvasir.blocks_found", found);
        span.setAttribute("kvasir.blocks_ssd", ssd);
        span.setAttribute("kvasir.bytes", bytes);
    }

    /** A put's blocks and bytes. */
    static void describePut(Span span, List<byte[]> payloads) {
        if (!span.isRecording()) {
            return;
        }
        span.setAttribute("kvasir.blocks", payloads.size());
        span.setAttribute("kvasir.bytes", payloads.stream().mapToLong(p -> p.length).sum());
    }
}
