package io.kvasir.cli;

import java.util.Set;

import io.kvasir.telemetry.Telemetry;

/** {@code --otlp-endpoint URL}, the same on every serving role, beside the standard {@code OTEL_*} variables. */
final class TracingOptions {
    static final Set<String> VALUES = Set.of("otlp-endpoint");
    static final String USAGE = """
              --otlp-endpoint URL: OpenTelemetry traces to this OTLP/HTTP collector (e.g. http://collector:4318);
              off by default. The standard OTEL_* variables work too (OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on;
              OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0.1 samples a tenth).""";

    private TracingOptions() {
    }

    /** Starts tracing for {@code role} (service name kvasir-ROLE) if the options or the environment ask for it. */
    static void start(String role, Args a) {
        String endpoint = a.string("otlp-endpoint", null);
        if (endpoint != null && !endpoint.startsWith("http://") && !endpoint.startsWith("https://")) {
            throw new Args.UsageException(role + ": --otlp-endpoint must be an http:// or https:// URL, got " + endpoint);
        }
        Telemetry.start("kvasir-" + role, endpoint);
    }
}
