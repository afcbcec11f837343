package io.kvasir.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.generated.com_google_protobuf_4_36_2.Metrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * A role's {@code /metrics} over HTTP in each format a scraper may ask for. The protobuf one is read
 * back with Prometheus' own generated classes (the ones the client ships): latency histograms
 * carry vLLM's classic buckets and a native histogram.
 */
class ExpositionTest {
    @Test
    void theAcceptHeaderPicksTextOpenMetricsOrProtobufWithNativeHistograms() throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        Histogram ttft = Exposition.latency("vllm:time_to_first_token_seconds", "Time to first token")
                .labelNames("model_name").register(registry);
        Counter tokens = Counter.builder().name("vllm:generation_tokens").help("Generated tokens").labelNames("model_name")
                .register(registry);
        for (double s : new double[] {0.03, 0.2, 0.21, 1.7}) {
            ttft.labelValues("m").observe(s);
        }
        tokens.labelValues("m").inc(42);
        try (MetricsEndpoint endpoint = new MetricsEndpoint("127.0.0.1", 0, registry);
                HttpClient http = HttpClient.newHttpClient()) {
            URI uri = URI.create("http://127.0.0.1:" + endpoint.port() + "/metrics");
            HttpResponse<String> text = http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
            assertTrue(text.headers().firstValue("Content-Type").orElseThrow().startsWith("text/plain; version=0.0.4"));
            assertTrue(text.body().contains("vllm:generation_tokens_total{model_name=\"m\"} 42.0"), text.body());
            assertTrue(text.body().contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"0.25\"} 3"),
                    text.body());

            HttpResponse<String> om = http.send(HttpRequest.newBuilder(uri)
                    .header("Accept", "application/openmetrics-text; version=1.0.0").build(), HttpResponse.BodyHandlers.ofString());
            assertTrue(om.headers().firstValue("Content-Type").orElseThrow().startsWith("application/openmetrics-text"));
            assertTrue(om.body().endsWith("# EOF\n"), om.body());

            HttpResponse<byte[]> pb = http.send(HttpRequest.newBuilder(uri).header("Accept",
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited").build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            assertTrue(pb.headers().firstValue("Content-Type").orElseThrow().startsWith("application/vnd.google.protobuf"));
            Map<String, Metrics.MetricFamily> families = new HashMap<>();
            try (InputStream in = new ByteArrayInputStream(pb.body())) {
                for (Metrics.MetricFamily f; (f = Metrics.MetricFamily.parseDelimitedFrom(in)) != null; ) {
                    families.put(f.getName(), f);
                }
            }
            Metrics.Histogram h = families.get("vllm:time_to_first_token_seconds").getMetric(0).getHistogram();
            assertEquals(4, h.getSampleCount());
            assertEquals(Exposition.LATENCY_BUCKETS.length + 1, h.getBucketCount(), "vLLM's classic buckets and +Inf");
            assertTrue(h.getPositiveSpanCount() > 0, "and a native histogram's spans: " + h);
            assertEquals(42.0, families.get("vllm:generation_tokens_total").getMetric(0).getCounter().getValue());
        }
    }
}
