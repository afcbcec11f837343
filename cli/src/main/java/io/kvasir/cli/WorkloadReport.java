package io.kvasir.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one mode did with a trace: goodput (requests per second that met both latency objectives,
 * as vLLM's benchmark counts it: a request meets them when its TTFT is within {@code sloTtft} and the
 * 90th percentile of its own inter-token gaps within {@code sloItl}), TTFT and inter-token
 * percentiles over all requests, output tokens per second, where the prompt tokens' KV came from,
 * and the block bytes the nodes moved through the store.
 */
record WorkloadReport(String mode, int requests, int failed, int metSlo, double durationSeconds, double goodput,
        double[] ttftMs, double ttftP50, double ttftP90, double ttftP99, double itlP50, double itlP90,
        double tokensPerSecond, long promptTokens, long localTokens, long hostTokens, long ssdTokens,
        long storeBytesRead, long storeBytesWritten) {

    static WorkloadReport of(String mode, List<WorkloadRun.Outcome> outcomes, double sloTtft, double sloItl,
            long[] storeBytes) {
        List<Double> ttfts = new ArrayList<>();
        List<Double> gaps = new ArrayList<>();
        int failed = 0, met = 0;
        long tokens = 0, prompt = 0, local = 0, host = 0, ssd = 0;
        double first = Double.MAX_VALUE, last = 0;
        for (WorkloadRun.Outcome o : outcomes) {
            first = Math.min(first, o.arrival());
            last = Math.max(last, o.end());
            if (o.error() != null) {
                failed++;
                continue;
            }
            ttfts.add(o.ttft());
            for (double g : o.gaps()) {
                gaps.add(g);
            }
            tokens += o.tokens().length;
            if (o.ttft() <= sloTtft && percentile(o.gaps(), 90) <= sloItl) {
                met++;
            }
            if (o.usage() != null) {
                prompt += o.usage().getPromptTokens();
                local += o.usage().getCachedLocalTokens();
                host += o.usage().getCachedHostTokens();
                ssd += o.usage().getCachedSsdTokens();
            }
        }
        double duration = outcomes.isEmpty() ? 0 : last - Math.min(first, last);
        double[] t = ttfts.stream().mapToDouble(x -> x * 1000).sorted().toArray();
        double[] g = gaps.stream().mapToDouble(x -> x * 1000).toArray();
        return new WorkloadReport(mode, outcomes.size(), failed, met, duration, duration > 0 ? met / duration : 0, t,
                percentile(t, 50), percentile(t, 90), percentile(t, 99), percentile(g, 50), percentile(g, 90),
                duration > 0 ? tokens / duration : 0, prompt, local, host, ssd, storeBytes[0], storeBytes[1]);
    }

    /** Nearest-rank percentile; 0 for no values. */
    static double percentile(double[] values, double p) {
        if (values.length == 0) {
            return 0;
        }
        double[] s = values.clone();
        Arrays.sort(s);
        return s[Math.clamp((int) Math.ceil(p / 100 * s.length) - 1, 0, s.length - 1)];
    }

    double hitRate(long tokens) {
        return promptTokens == 0 ? 0 : (double) tokens / promptTokens;
    }

    /** The JSON object of this mode. */
    Map<String, Object> json() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("requests", requests);
        m.put("failed", failed);
        m.put("met_slo", metSlo);
        m.put("duration_s", round(durationSeconds, 2));
        m.put("goodput_rps", round(goodput, 4));
        m.put("ttft_p50_ms", round(ttftP50, 1));
        m.put("ttft_p90_ms", round(ttftP90, 1));
        m.put("ttft_p99_ms", round(ttftP99, 1));
        m.put("itl_p50_ms", round(itlP50, 1));
        m.put("itl_p90_ms", round(itlP90, 1));
        m.put("output_tokens_per_s", round(tokensPerSecond, 2));
        m.put("prompt_tokens", promptTokens);
        Map<String, Object> hits = new LinkedHashMap<>();
        hits.put("local", round(hitRate(localTokens), 4));
        hits.put("host", round(hitRate(hostTokens), 4));
        hits.put("ssd", round(hitRate(ssdTokens), 4));
        hits.put("miss", round(1 - hitRate(localTokens + hostTokens + ssdTokens), 4));
        m.put("hit_rate", hits);
        m.put("store_bytes_read", storeBytesRead);
        m.put("store_bytes_written", storeBytesWritten);
        return m;
    }

    static String header() {
        return String.format("%-9s %5s %4s %8s %9s %9s %9s %8s %8s %7s %6s %6s %6s %6s %9s",
                "mode", "reqs", "fail", "goodput", "TTFT p50", "p90", "p99", "ITL p50", "p90", "tok/s",
                "local", "host", "ssd", "miss", "store MB");
    }

    String row() {
        return String.format("%-9s %5d %4d %8.3f %9.0f %9.0f %9.0f %8.1f %8.1f %7.1f %5.0f%% %5.0f%% %5.0f%% %5.0f%% %9.1f",
                mode, requests, failed, goodput, ttftP50, ttftP90, ttftP99, itlP50, itlP90, tokensPerSecond,
                100 * hitRate(localTokens), 100 * hitRate(hostTokens), 100 * hitRate(ssdTokens),
                100 * (1 - hitRate(localTokens + hostTokens + ssdTokens)),
                (storeBytesRead + storeBytesWritten) / 1e6);
    }

    private static double round(double v, int places) {
        double f = Math.pow(10, places);
        return Math.round(v * f) / f;
    }
}
