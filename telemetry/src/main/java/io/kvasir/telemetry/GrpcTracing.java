package io.kvasir.telemetry;

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
    private static final TextMapSetter<Metadata> SETTER = (headers, key, value) ->
            headers.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value);

    private GrpcTracing() {
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
                Context parent = Telemetry.remoteParent(key -> headers.get(Metadata.Key.of(key,
                        Metadata.ASCII_STRING_MARSHALLER)));
                MethodDescriptor<Q, R> method = call.getMethodDescriptor();
                boolean ownService = !method.getFullMethodName().startsWith("grpc.");
                if (!Telemetry.inTrace(parent) && !(roots && ownService)) {
                    return next.startCall(call, headers);
                }
                Span span = Telemetry.tracer().spanBuilder(method.getFullMethodName()).setSpanKind(SpanKind.SERVER)
                        .setParent(parent).setAttribute("rpc.system", "grpc")
                        .setAttribute("rpc.service", method.getServiceName())
                        .setAttribute("rpc.method", method.getBareMethodName()).startSpan();
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
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                    @Override
                    public void onMessage(Q message) {
                        try (Scope ignored = context.makeCurrent()) {
                            super.onMessage(message);
                        }
                    }

                    @Override
                    public void onHalfClose() {
                        try (Scope ignored = context.makeCurrent()) {
                            super.onHalfClose();
                        }
                    }

                    @Override
                    public void onCancel() {
                        try (Scope ignored = context.makeCurrent()) {
                            super.onCancel();
                        } finally {
                            end(span, Status.CANCELLED, ended);
                        }
                    }

                    @Override
                    public void onComplete() {
                        try (Scope ignored = context.makeCurrent()) {
                            super.onComplete();
                        }
                    }

                    @Override
                    public void onReady() {
                        try (Scope ignored = context.makeCurrent()) {
                            super.onReady();
                        }
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
                Span span = Telemetry.tracer().spanBuilder(method.getFullMethodName()).setSpanKind(SpanKind.CLIENT)
                        .setParent(parent).setAttribute("rpc.system", "grpc")
                        .setAttribute("rpc.service", method.getServiceName())
                        .setAttribute("rpc.method", method.getBareMethodName()).startSpan();
                Context context = parent.with(span);
                AtomicBoolean ended = new AtomicBoolean();
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        Telemetry.propagator().inject(context, headers, SETTER);
                        // the caller's callbacks run in its own context (a retry from onClose stays in the request's trace)
                        super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                            @Override
                            public void onMessage(R message) {
                                try (Scope ignored = parent.makeCurrent()) {
                                    super.onMessage(message);
                                }
                            }

                            @Override
                            public void onReady() {
                                try (Scope ignored = parent.makeCurrent()) {
                                    super.onReady();
                                }
                            }

                            @Override
                            public void onClose(Status status, Metadata trailers) {
                                end(span, status, ended);
                                try (Scope ignored = parent.makeCurrent()) {
                                    super.onClose(status, trailers);
                                }
                            }
                        }, headers);
                    }
                };
            }
        };
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
