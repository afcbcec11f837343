package io.kvasir.telemetry;

import java.util.function.DoubleSupplier;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/**
 * The one-series families every role has: a figure kept elsewhere (a counter's adder, the loop's
 * queue), read when Prometheus scrapes, under fixed labels (the model, the member).
 */
public final class MetricFamilies {
    private MetricFamilies() {
    }

    /** A gauge of {@code value}, labelled {@code labels}. */
    public static void gauge(PrometheusRegistry registry, String name, String help, Labels labels, DoubleSupplier value) {
        GaugeWithCallback.builder().name(name).help(help).constLabels(labels)
                .callback(cb -> cb.call(value.getAsDouble())).register(registry);
    }

    /** A counter of {@code value} (it only grows), labelled {@code labels}; exported as {@code name_total}. */
    public static void counter(PrometheusRegistry registry, String name, String help, Labels labels, DoubleSupplier value) {
        CounterWithCallback.builder().name(name).help(help).constLabels(labels)
                .callback(cb -> cb.call(value.getAsDouble())).register(registry);
    }
}
