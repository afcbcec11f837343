package io.kvasir.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import io.kvasir.telemetry.TraceCollector;

/**
 * {@code kvasir traces}: an OTLP/HTTP receiver that prints each trace as a tree of spans once no
 * span of it has arrived for a while. For looking at a request's time without a tracing backend.
 */
final class TracesCommand {
    static final String USAGE = """
            usage: kvasir traces [--host 127.0.0.1] [--port 4318] [--quiet-ms 6000]
              Receives OpenTelemetry traces over OTLP/HTTP (protobuf) and prints each as a tree of spans
              (service, name, duration, start after the trace's first span, attributes) once no span of it
              has come for --quiet-ms (longer than the roles' export interval, 5 s unless OTEL_BSP_SCHEDULE_DELAY
              says otherwise). Point the roles at it: --otlp-endpoint http://HOST:PORT.""";

    private TracesCommand() {
    }

    static void run(List<String> argv, PrintStream out) throws InterruptedException {
        Args a = Args.parse("traces", argv, Set.of("host", "port", "quiet-ms"), Set.of());
        long quietMs = a.integer("quiet-ms", 6000);
        Map<String, Long> lastSeen = new ConcurrentHashMap<>();
        TraceCollector collector;
        try {
            collector = new TraceCollector(a.string("host", "127.0.0.1"), a.integer("port", 4318));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on port " + a.integer("port", 4318) + ": " + e.getMessage(), e);
        }
        collector.onExport(batch -> batch.forEach(s -> lastSeen.put(s.traceId(), System.nanoTime())));
        ScheduledExecutorService printer = Executors.newSingleThreadScheduledExecutor();
        printer.scheduleWithFixedDelay(() -> lastSeen.forEach((trace, at) -> {
            if (System.nanoTime() - at > TimeUnit.MILLISECONDS.toNanos(quietMs) && lastSeen.remove(trace, at)) {
                synchronized (out) {
                    out.println("trace " + trace);
                    out.print(TraceCollector.tree(collector.trace(trace)));
                    out.println();
                    out.flush();
                }
            }
        }), 500, 500, TimeUnit.MILLISECONDS);
        out.println("kvasir traces: OTLP/HTTP on http://" + a.string("host", "127.0.0.1") + ":" + collector.port()
                + "/v1/traces");
        out.flush();
        RoleCommands.awaitShutdown(() -> {
            printer.shutdownNow();
            collector.close();
        });
    }
}
