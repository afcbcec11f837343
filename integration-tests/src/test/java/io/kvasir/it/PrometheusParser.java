package io.kvasir.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;

/**
 * Prometheus' own exposition parser (the official Python client's, Debian's
 * python3-prometheus-client, which .ci/run installs), run on a scrape: a format error fails the
 * test, as it would fail Prometheus' scrape.
 */
final class PrometheusParser {
    private static final String PYTHON = "/usr/bin/python3";
    private static final String SCRIPT = """
            import sys, json
            if sys.argv[1] == "openmetrics":
                from prometheus_client.openmetrics.parser import text_string_to_metric_families
            else:
                from prometheus_client.parser import text_string_to_metric_families
            print(json.dumps([{"name": f.name, "type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
                              for f in text_string_to_metric_families(sys.stdin.read())]))
            """;
    /** The Accept header of an OpenMetrics scrape, as Prometheus sends it. */
    static final String OPENMETRICS = "application/openmetrics-text; version=1.0.0";

    /** One sample as the parser read it. */
    record Sample(String name, Map<String, String> labels, double value) {
    }

    /** One family: its name (a counter's without _total, as the parser gives it), type and samples. */
    record Family(String name, String type, List<Sample> samples) {
    }

    private PrometheusParser() {
    }

    /** {@code text} (Prometheus' text format) parsed; throws with the parser's message if Prometheus could not read it. */
    static List<Family> parse(String text) throws IOException, InterruptedException {
        return parse(text, false);
    }

    /** {@code text} parsed as OpenMetrics ({@code openMetrics}) or Prometheus' text format. */
    static List<Family> parse(String text, boolean openMetrics) throws IOException, InterruptedException {
        if (!Files.isExecutable(Path.of(PYTHON))) {
            throw new IllegalStateException(PYTHON + " is missing: apt install python3 python3-prometheus-client");
        }
        Process p = new ProcessBuilder(PYTHON, "-c", SCRIPT, openMetrics ? "openmetrics" : "text").redirectErrorStream(true)
                .start();
        try (var in = p.getOutputStream()) {
            in.write(text.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("the Prometheus parser did not finish");
        }
        assertEquals(0, p.exitValue(), "Prometheus' parser refused the exposition:\n" + out);
        List<Family> families = new ArrayList<>();
        for (JsonElement f : JsonParser.parseString(out).getAsJsonArray()) {
            List<Sample> samples = new ArrayList<>();
            for (JsonElement s : f.getAsJsonObject().getAsJsonArray("samples")) {
                var a = s.getAsJsonArray();
                Map<String, String> labels = new java.util.TreeMap<>();
                a.get(1).getAsJsonObject().entrySet().forEach(e -> labels.put(e.getKey(), e.getValue().getAsString()));
                samples.add(new Sample(a.get(0).getAsString(), labels, a.get(2).getAsDouble()));
            }
            families.add(new Family(f.getAsJsonObject().get("name").getAsString(),
                    f.getAsJsonObject().get("type").getAsString(), samples));
        }
        return families;
    }

    /** Every name a scrape exports: families' (with a counter's _total) and samples'. */
    static java.util.Set<String> names(List<Family> families) {
        java.util.Set<String> names = new java.util.TreeSet<>();
        for (Family f : families) {
            names.add(f.name());
            if (f.type().equals("counter")) {
                names.add(f.name() + "_total");
            }
            f.samples().forEach(s -> names.add(s.name()));
        }
        return names;
    }
}
