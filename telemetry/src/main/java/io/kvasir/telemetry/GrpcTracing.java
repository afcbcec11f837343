package io.kvasir.telemetry;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapSetter;

/**
 * W3C trace context over gRPC: a client span per call made inside a trace, its context sent in the
 * call's headers, and a server span per call received with one, so a request's spans in every
 * process form one trace. Calls outside a trace (heartbeats, topology polls, health checks) are
 * not traced; the public API starts a trace for each request that comes without one.
 */
public final class GrpcTracing {
    /** The header keys propagators ask for (traceparent, tracestate, baggage), made once each. */
    private static final Map<String, Metadata.Key<String>> KEYS = new ConcurrentHashMap<>();
    private static final TextMapSetter<Metadata> SETTER = (headers, key, value) -> headers.put(key(key), value);

    private GrpcTracing() {
    }

    private static Metadata.Key<String> key(String name) {
        return KEYS.computeIfAbsent(name, n -> Metadata.Key.of(n, Metadata.ASCII_STRING_MARSHALLER));
    }

    /**
     * Server spans, children of the caller's context. {@code roots}: whether a call that brought no
     * trace context starts a trace of its own (the public API; gRPC's own services never do).
     */
    public static ServerInterceptor server(boolean roots) {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                Context parent = Telemetry.remoteParent(name -> headers.get(key(name)));
                MethodDescriptor<Q, R> method = call.getMethodDescriptor();
                boolean ownService = !method.getFullMethodName().startsWith("grpc.");
                if (!Telemetry.inTrace(parent) && !(roots && ownService)) {
                    return next.startCall(call, headers);
                }
                Span span = rpcSpan(method, SpanKind.SERVER, parent);
                Context context = parent.with(span);
                AtomicBoolean ended = new AtomicBoolean();
                ServerCall<Q, R> traced = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        try {
                            super.close(status, trailers);
                        } finally {
                            end(span, status, ended);
                        }
                    }
                };
                ServerCall.Listener<Q> listener;
                try (Scope ignored = context.makeCurrent()) {
                    listener = next.startCall(traced, headers);
                }
                // the service's callbacks run in the call's context, on whatever thread gRPC gives them
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                    @Override
                    public void onMessage(Q message) {
                        context.wrap(() -> super.onMessage(message)).run();
                    }

                    @Override
                    public void onHalfClose() {
                        context.wrap(super::onHalfClose).run();
                    }

                    @Override
                    public void onCancel() {
                        try {
                            context.wrap(super::onCancel).run();
                        } finally {
                            end(span, Status.CANCELLED, ended);
                        }
                    }

                    @Override
                    public void onComplete() {
                        context.wrap(super::onComplete).run();
                    }

                    @Override
                    public void onReady() {
                        context.wrap(super::onReady).run();
                    }
                };
            }
        };
    }

    /** Client spans for calls made inside a trace, their context sent to the server; other calls go as they are. */
    public static ClientInterceptor client() {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options,
                    Channel next) {
                Context parent = Context.current();
                if (!Telemetry.inTrace(parent)) {
                    return next.newCall(method, options);
                }
                Span span = rpcSpan(method, SpanKind.CLIENT, parent);
                AtomicBoolean ended = new AtomicBoolean();
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        Telemetry.propagator().inject(parent.with(span), headers, SETTER);
                        // the caller's callbacks run in its own context (a retry from onClose stays in the request's trace)
                        super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                            @Override
                            public void onMessage(R message) {
                                parent.wrap(() -> super.onMessage(message)).run();
                            }

                            @Override
                            public void onReady() {
                                parent.wrap(super::onReady).run();
                            }

                            @Override
                            public void onClose(Status status, Metadata trailers) {
                                end(span, status, ended);
                                parent.wrap(() -> super.onClose(status, trailers)).run();
                            }
                        }, headers);
                    }
                };
            }
        };
    }

    private static Span rpcSpan(MethodDescriptor<?, ?> method, SpanKind kind, Context parent) {
        return Telemetry.tracer().spanBuilder(method.getFullMethodName()).setSpanKind(kind).setParent(parent)
                .setAttribute("rpc.system", "grpc").setAttribute("rpc.service", method.getServiceName())
                .setAttribute("rpc.method", method.getBareMethodName()).startSpan();
    }

    private static void end(Span span, Status status, AtomicBoolean ended) {
        if (ended.compareAndSet(false, true)) {
            span.setAttribute("rpc.grpc.status_code", status.getCode().value());
            if (!status.isOk()) {
                span.setStatus(StatusCode.ERROR, status.getCode() + (status.getDescription() == null ? ""
                        : ": " + status.getDescription()));
            }
            span.end();
        }
    }
}
