/**
 * Tracing for every role: {@link io.kvasir.telemetry.Telemetry} starts OpenTelemetry's SDK when the
 * standard {@code OTEL_*} variables (or {@code --otlp-endpoint}) name an exporter, and
 * {@link io.kvasir.telemetry.GrpcTracing} carries W3C trace context over every gRPC call.
 */
package io.kvasir.telemetry;
