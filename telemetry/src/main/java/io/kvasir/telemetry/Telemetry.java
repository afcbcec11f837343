package io.kvasir.telemetry;

import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;

/**
 * This process's OpenTelemetry. Tracing is off unless asked for: {@code --otlp-endpoint}, or the
 * standard variables naming an exporter ({@code OTEL_EXPORTER_OTLP_ENDPOINT},
 * {@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT}, or {@code OTEL_TRACES_EXPORTER} other than none; the
 * same as system properties). Then the SDK's autoconfiguration reads every other {@code OTEL_*}
 * variable (sampler, batch delays, headers, resource), with these defaults: OTLP over HTTP/protobuf,
 * traces only (no OpenTelemetry metrics or logs: metrics are Prometheus'), and the role as the
 * service name. Off, every span is a no-op that still passes a caller's trace context on.
 */
public final class Telemetry {
    private static final String SCOPE = "io.kvasir";
    private static volatile OpenTelemetry otel = OpenTelemetry.noop();
    /** {@link #otel}'s tracer, looked up once rather than per span. */
    private static volatile Tracer tracer = otel.getTracer(SCOPE);
    private static volatile boolean started;

    private Telemetry() {
    }

    /**
     * Starts tracing for this process if asked for (see the class comment); at most once.
     *
     * @param serviceName  the service name spans carry unless {@code OTEL_SERVICE_NAME} says otherwise
     * @param otlpEndpoint the collector's OTLP/HTTP base address (e.g. {@code http://collector:4318}),
     *                     or null to go by the environment alone
     * @return whether spans are now exported
     */
    public static synchronized boolean start(String serviceName, String otlpEndpoint) {
        if (started) {
            return true;
        }
        String exporter = setting("otel.traces.exporter");
        boolean asked = otlpEndpoint != null || setting("otel.exporter.otlp.endpoint") != null
                || setting("otel.exporter.otlp.traces.endpoint") != null
                || (exporter != null && !exporter.equalsIgnoreCase("none"));
        if (!asked || "true".equalsIgnoreCase(setting("otel.sdk.disabled"))) {
            return false;
        }
        Map<String, String> defaults = Map.of("otel.service.name", serviceName,
                "otel.traces.exporter", "otlp", "otel.metrics.exporter", "none", "otel.logs.exporter", "none",
                "otel.exporter.otlp.protocol", "http/protobuf");
        otel = AutoConfiguredOpenTelemetrySdk.builder()
                .addPropertiesSupplier(() -> defaults) // the environment and system properties take precedence
                .addPropertiesCustomizer(config -> otlpEndpoint == null ? Map.of()
                        : Map.of("otel.exporter.otlp.endpoint", otlpEndpoint)) // the flag over both
                .build().getOpenTelemetrySdk(); // closed (spans flushed) by its shutdown hook
        tracer = otel.getTracer(SCOPE);
        started = true;
        return true;
    }

    /** The tracer of every Kvasir span (a no-op one while tracing is off). */
    public static Tracer tracer() {
        return tracer;
    }

    /** How trace context travels between processes: the SDK's propagators, W3C trace context while off. */
    static TextMapPropagator propagator() {
        return started ? otel.getPropagators().getTextMapPropagator() : W3CTraceContextPropagator.getInstance();
    }

    /** The trace context a caller sent in headers ({@code traceparent}, {@code tracestate}); the root context if none. */
    public static Context remoteParent(Function<String, String> header) {
        return propagator().extract(Context.root(), header, HEADERS);
    }

    /** Whether {@code context} belongs to a trace (a request's), so work done in it should be traced. */
    public static boolean inTrace(Context context) {
        return Span.fromContext(context).getSpanContext().isValid();
    }

    /**
     * A span named {@code name}, child of the current one; a no-op span outside a trace (background
     * work, such as heartbeats, starts no traces of its own).
     */
    public static Span childSpan(String name) {
        Context current = Context.current();
        return inTrace(current) ? tracer().spanBuilder(name).setParent(current).startSpan() : Span.getInvalid();
    }

    /**
     * A span named {@code name}, child of {@code parent}, that began at {@code startNanoTime} (a
     * {@link System#nanoTime} reading: a wait measured before anyone knew it would be a span); a
     * no-op span outside a trace. The caller ends it.
     */
    public static Span spanSince(String name, Context parent, long startNanoTime) {
        if (!inTrace(parent)) {
            return Span.getInvalid();
        }
        Instant now = Instant.now();
        long start = now.getEpochSecond() * 1_000_000_000L + now.getNano() - (System.nanoTime() - startNanoTime);
        return tracer().spanBuilder(name).setParent(parent).setStartTimestamp(start, TimeUnit.NANOSECONDS).startSpan();
    }

    /** {@code executor}, its tasks run in the context of whoever submitted them (so a request's trace follows it). */
    public static ExecutorService propagating(ExecutorService executor) {
        return Context.taskWrapping(executor);
    }

    /** An {@code otel.*} setting from the system properties, else from the environment ({@code OTEL_*}). */
    private static String setting(String key) {
        String value = System.getProperty(key);
        if (value == null) {
            value = System.getenv(key.toUpperCase(Locale.ROOT).replace('.', '_'));
        }
        return value == null || value.isBlank() ? null : value;
    }

    private static final TextMapGetter<Function<String, String>> HEADERS = new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Function<String, String> carrier) {
            return List.of(); // only read by propagators that enumerate (not W3C's)
        }

        @Override
        public String get(Function<String, String> carrier, String key) {
            return carrier == null ? null : carrier.apply(key);
        }
    };
}
