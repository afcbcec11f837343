package io.kvasir.telemetry;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.stream.Collectors;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;

/**
 * A small OTLP/HTTP trace receiver ({@code POST /v1/traces}, protobuf): keeps the last spans it was
 * sent and prints a trace as a tree of spans with their durations. For an operator without a
 * collector ({@code kvasir traces}) and for the tests, which check what every role really exported.
 */
public final class TraceCollector implements AutoCloseable {
    /** Spans kept; older ones are dropped first. */
    static final int MAX_SPANS = 100_000;
    private static final int MAX_BODY_BYTES = 64 << 20;

    /** One received span: ids in hex, times in epoch nanoseconds, attributes as text. */
    public record CollectedSpan(String service, String traceId, String spanId, String parentSpanId, String name,
            long startNanos, long endNanos, Map<String, String> attributes) {
        public double millis() {
            return (endNanos - startNanos) / 1e6;
        }
    }

    private final HttpServer server;
    private final ArrayDeque<CollectedSpan> spans = new ArrayDeque<>();
    private volatile Consumer<List<CollectedSpan>> onExport = batch -> { };

    /** Listens on {@code host:port} (0: any free port). */
    public TraceCollector(String host, int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress(host, port), 16);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/v1/traces", this::export);
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    /** Also hands each export's spans to {@code listener} (on the receiving thread). */
    public TraceCollector onExport(Consumer<List<CollectedSpan>> listener) {
        this.onExport = listener;
        return this;
    }

    private void export(HttpExchange exchange) throws IOException {
        try (exchange) {
            String type = String.valueOf(exchange.getRequestHeaders().getFirst("Content-Type"));
            if (!exchange.getRequestMethod().equals("POST")) {
                exchange.sendResponseHeaders(405, -1);
                return;
            }
            if (!type.startsWith("application/x-protobuf")) {
                exchange.sendResponseHeaders(415, -1); // OTLP/JSON is not read here
                return;
            }
            ExportTraceServiceRequest request;
            try (InputStream body = exchange.getRequestBody()) {
                byte[] bytes = body.readNBytes(MAX_BODY_BYTES + 1);
                if (bytes.length > MAX_BODY_BYTES) {
                    exchange.sendResponseHeaders(413, -1);
                    return;
                }
                request = ExportTraceServiceRequest.parseFrom(bytes);
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                exchange.sendResponseHeaders(400, -1);
                return;
            }
            List<CollectedSpan> batch = spansOf(request);
            synchronized (spans) {
                spans.addAll(batch);
                while (spans.size() > MAX_SPANS) {
                    spans.removeFirst();
                }
            }
            onExport.accept(batch);
            exchange.getResponseHeaders().set("Content-Type", "application/x-protobuf");
            exchange.sendResponseHeaders(200, -1); // an empty ExportTraceServiceResponse
        }
    }

    private static List<CollectedSpan> spansOf(ExportTraceServiceRequest request) {
        HexFormat hex = HexFormat.of();
        List<CollectedSpan> out = new ArrayList<>();
        for (ResourceSpans resource : request.getResourceSpansList()) {
            String service = text(resource.getResource().getAttributesList()).getOrDefault("service.name", "?");
            for (ScopeSpans scope : resource.getScopeSpansList()) {
                for (var span : scope.getSpansList()) {
                    out.add(new CollectedSpan(service, hex.formatHex(span.getTraceId().toByteArray()),
                            hex.formatHex(span.getSpanId().toByteArray()),
                            hex.formatHex(span.getParentSpanId().toByteArray()), span.getName(),
                            span.getStartTimeUnixNano(), span.getEndTimeUnixNano(), text(span.getAttributesList())));
                }
            }
        }
        return out;
    }

    private static Map<String, String> text(List<KeyValue> attributes) {
        return attributes.stream().collect(Collectors.toMap(KeyValue::getKey, kv -> text(kv.getValue()), (a, b) -> b,
                java.util.TreeMap::new));
    }

    private static String text(AnyValue v) {
        return switch (v.getValueCase()) {
            case STRING_VALUE -> v.getStringValue();
            case BOOL_VALUE -> Boolean.toString(v.getBoolValue());
            case INT_VALUE -> Long.toString(v.getIntValue());
            case DOUBLE_VALUE -> Double.toString(v.getDoubleValue());
            default -> v.toString().strip();
        };
    }

    /** Every span kept, in arrival order. */
    public List<CollectedSpan> spans() {
        synchronized (spans) {
            return List.copyOf(spans);
        }
    }

    /** The spans of one trace. */
    public List<CollectedSpan> trace(String traceId) {
        return spans().stream().filter(s -> s.traceId().equals(traceId)).toList();
    }

    /**
     * {@code spans} (one trace's) as a tree: each line a span's service, name and milliseconds, its
     * start after the trace's first span, and its attributes, children indented under their parent
     * in the order they started.
     */
    public static String tree(List<CollectedSpan> spans) {
        long origin = spans.stream().mapToLong(CollectedSpan::startNanos).min().orElse(0);
        Map<String, List<CollectedSpan>> children = spans.stream().sorted(Comparator.comparingLong(CollectedSpan::startNanos))
                .collect(Collectors.groupingBy(CollectedSpan::parentSpanId, java.util.LinkedHashMap::new, Collectors.toList()));
        java.util.Set<String> ids = spans.stream().map(CollectedSpan::spanId).collect(Collectors.toSet());
        StringBuilder out = new StringBuilder();
        spans.stream().filter(s -> !ids.contains(s.parentSpanId())).sorted(Comparator.comparingLong(CollectedSpan::startNanos))
                .forEach(root -> print(root, children, origin, 0, out));
        return out.toString();
    }

    private static void print(CollectedSpan span, Map<String, List<CollectedSpan>> children, long origin, int depth,
            StringBuilder out) {
        Map<String, String> shown = new java.util.TreeMap<>(span.attributes());
        shown.keySet().removeIf(k -> k.startsWith("rpc.") && !k.equals("rpc.grpc.status_code") || k.startsWith("thread."));
        out.append("  ".repeat(depth)).append(String.format(java.util.Locale.ROOT, "%-14s %-40s %9.1f ms  (+%.1f)",
                span.service(), span.name(), span.millis(), (span.startNanos() - origin) / 1e6));
        if (!shown.isEmpty()) {
            out.append("  ").append(shown);
        }
        out.append('\n');
        for (CollectedSpan child : children.getOrDefault(span.spanId(), List.of())) {
            print(child, children, origin, depth + 1, out);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
