package io.kvasir.kv.metrics;

import java.util.Locale;
import java.util.Map;

/**
 * Writes Prometheus' text exposition format (version 0.0.4). Hand-written on purpose: a metric
 * family is a HELP line, a TYPE line and samples, which a builder of thirty lines writes; a metrics
 * library (and its registry, its threads, its dependencies) would be more than everything it saves.
 */
public final class PrometheusText {
    private final StringBuilder out = new StringBuilder(4096);

    /** One family with a single unlabelled (or fixed-labelled) sample. */
    public PrometheusText gauge(String name, String help, String labels, double value) {
        return family(name, help, "gauge").sample(name, labels, value);
    }

    public PrometheusText counter(String name, String help, String labels, double value) {
        return family(name, help, "counter").sample(name, labels, value);
    }

    /** A family's HELP and TYPE lines; its samples follow with {@link #sample}. */
    public PrometheusText family(String name, String help, String type) {
        out.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(' ')
                .append(type).append('\n');
        return this;
    }

    /** One sample line; {@code labels} is empty or {@code {a="x",b="y"}}. */
    public PrometheusText sample(String name, String labels, double value) {
        out.append(name).append(labels).append(' ').append(format(value)).append('\n');
        return this;
    }

    /** One family with a sample per label value: {@code name{label="key"} value}. */
    public PrometheusText labelled(String name, String help, String type, String label, Map<String, ? extends Number> values) {
        family(name, help, type);
        values.forEach((key, v) -> sample(name, labels(label, key), v.doubleValue()));
        return this;
    }

    public PrometheusText histogram(LatencyHistogram h, String labels) {
        h.render(this, labels);
        return this;
    }

    /** {@code {name="value"}}, with the value escaped as the format requires. */
    public static String labels(String name, String value) {
        return "{" + name + "=\"" + escape(value) + "\"}";
    }

    static String escape(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    static String format(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }

    @Override
    public String toString() {
        return out.toString();
    }
}
