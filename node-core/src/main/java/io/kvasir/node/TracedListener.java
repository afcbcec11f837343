package io.kvasir.node;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.telemetry.Telemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;

/**
 * A sequence's listener that puts the sequence into its request's trace on a node's engine loop:
 * made where the sequence is submitted (in the call's context), it turns the loop's phases into
 * child spans ({@code prefix lookup}, {@code prefill}, {@code store blocks}; the store calls made
 * inside them are theirs) and the sequence's wait for admission into a {@code queue wait} span.
 * Outside a trace it does nothing. Subclasses take the tokens.
 */
public abstract class TracedListener implements EngineLoop.Listener {
    private final Context context = Context.current();
    private boolean sawToken;

    /** A span for the wait that just ended, {@code queuedNanos} long. */
    @Override
    public void onAdmitted(long queuedNanos) {
        Telemetry.spanSince("queue wait", context, System.nanoTime() - queuedNanos).end();
    }

    /** A child span for the loop's phase {@code name}, current on this thread until the phase closes. */
    @Override
    public EngineLoop.Phase phase(String name) {
        if (!Telemetry.inTrace(context)) {
            return EngineLoop.Phase.NONE;
        }
        Span span = Telemetry.tracer().spanBuilder(name).setParent(context).startSpan();
        Scope scope = context.with(span).makeCurrent();
        return new EngineLoop.Phase() {
            @Override
            public void set(String key, long value) {
                span.setAttribute("kvasir." + key, value);
            }

            @Override
            public void close() {
                scope.close();
                span.end();
            }
        };
    }

    /** Marks the sequence's first token on the call's span (its later tokens are not marked). */
    protected void markToken() {
        if (!sawToken) {
            sawToken = true;
            Span.fromContext(context).addEvent("first token");
        }
    }
}
