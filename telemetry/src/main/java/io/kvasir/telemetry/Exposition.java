package io.kvasir.telemetry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * What every role's {@code /metrics} answers: its registry's families in the format the scraper
 * asks for by its Accept header (Prometheus text by default, OpenMetrics, or Prometheus' protobuf,
 * the one that carries native histograms).
 */
public final class Exposition {
    private static final ExpositionFormats FORMATS = ExpositionFormats.init();
    /** vLLM's latency buckets, in seconds: its dashboards' quantiles read the same from Kvasir. */
    static final double[] LATENCY_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
        2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};

    private Exposition() {
    }

    /** A response body and its Content-Type. */
    public record Body(String contentType, byte[] bytes) {
    }

    /** {@code registry}'s families in the format {@code accept} asks for (null or none named: Prometheus text). */
    public static Body of(PrometheusRegistry registry, String accept) throws IOException {
        ExpositionFormatWriter writer = FORMATS.findWriter(accept == null ? "" : accept);
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 << 10);
        writer.write(out, registry.scrape());
        return new Body(writer.getContentType(), out.toByteArray());
    }

    /** {@code registry}'s families as Prometheus text (tests and tools that read it as a string). */
    public static String text(PrometheusRegistry registry) {
        try {
            return new String(of(registry, null).bytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A latency histogram in seconds: vLLM's classic buckets, and a native histogram beside them. */
    public static Histogram.Builder latency(String name, String help) {
        return Histogram.builder().name(name).help(help).classicUpperBounds(LATENCY_BUCKETS);
    }
}
