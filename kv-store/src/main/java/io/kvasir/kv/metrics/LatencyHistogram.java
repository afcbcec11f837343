package io.kvasir.kv.metrics;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;

/** Prometheus' histogram over fixed latency buckets (vLLM's, in seconds): cumulative buckets, sum, count. */
public final class LatencyHistogram {
    private static final double[] BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
            2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};

    private final String name;
    private final String help;
    private final AtomicLongArray counts = new AtomicLongArray(BUCKETS.length + 1);
    private final DoubleAdder sum = new DoubleAdder();

    public LatencyHistogram(String name, String help) {
        this.name = name;
        this.help = help;
    }

    public void observe(double seconds) {
        int i = 0;
        while (i < BUCKETS.length && seconds > BUCKETS[i]) {
            i++;
        }
        counts.incrementAndGet(i);
        sum.add(seconds);
    }

    /** {@code labels}: empty or {@code {a="x"}}; {@code le} is added to each bucket's. */
    void render(PrometheusText out, String labels) {
        out.family(name, help, "histogram");
        String prefix = labels.isEmpty() ? "{" : labels.substring(0, labels.length() - 1) + ",";
        long cumulative = 0;
        for (int i = 0; i <= BUCKETS.length; i++) {
            cumulative += counts.get(i);
            String le = i == BUCKETS.length ? "+Inf" : Double.toString(BUCKETS[i]); // "0.25", "1.0" as clients write them
            out.sample(name + "_bucket", prefix + "le=\"" + le + "\"}", cumulative);
        }
        out.sample(name + "_sum", labels, sum.sum());
        out.sample(name + "_count", labels, cumulative);
    }
}
