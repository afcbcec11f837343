package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.kvasir.engine.BuiltinModel;

/**
 * {@code bench workload} on a short documents trace and the built-in model: every mode really
 * starts its cluster and serves the trace through the public API; the cache may change where KV
 * comes from, never a token.
 */
class WorkloadBenchTest {
    @TempDir
    Path dir;

    @Test
    void everyModeGivesTheSameTokensAndOnlyTheStoreHitsItsTiers() throws Exception {
        // 4 documents of 640 tokens: ~2.6 MB of KV against a 1 MiB host tier, so some spill to SSD;
        // pools of 60 blocks hold one running request and little else
        var sizes = new WorkloadTrace.Sizes(4, 640, 3, 1, 1, 16, 6, 8192, 2);
        var config = new WorkloadBench.Config("documents", "grpc", WorkloadBench.ALL_MODES, List.of(3.0), 7, sizes, 5, 1,
                BuiltinModel.ensure(dir), 2, 60, 8, 1, 1, 256, 1 << 20, 64 << 20, dir.resolve("work"), null, false, "auto");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Map<String, Object> result = WorkloadBench.run(config, new PrintStream(log, true));
        String printed = log.toString();

        assertEquals(true, result.get("identical"), "outputs differ between modes: " + result.get("mismatches")
                + "\n" + printed);
        @SuppressWarnings("unchecked")
        var modes = (Map<String, Map<String, Object>>) result.get("modes");
        assertEquals(WorkloadBench.ALL_MODES, List.copyOf(modes.keySet()));
        for (var mode : modes.entrySet()) {
            assertEquals(12, mode.getValue().get("requests"), mode.getKey());
            assertEquals(0, mode.getValue().get("failed"), mode.getKey() + "\n" + printed);
        }
        assertEquals(1.0, hits(modes, "no-cache").get("miss"), printed);
        assertEquals(0L, modes.get("no-cache").get("store_bytes_read"));
        assertTrue(hits(modes, "local").get("local") > 0, "the local mode reuses its pools\n" + printed);
        assertEquals(0.0, hits(modes, "local").get("host"), printed);
        assertTrue(hits(modes, "store").get("host") > 0, "store: host-tier hits\n" + printed);
        assertTrue(hits(modes, "store").get("ssd") > 0, "store: SSD-tier hits\n" + printed);
        assertTrue((long) modes.get("store").get("store_bytes_written") > 1 << 20, printed);
    }

    @Test
    void theHttpApiCarriesTheSameTraceWithItsTiers() throws Exception {
        var sizes = new WorkloadTrace.Sizes(2, 320, 3, 1, 1, 16, 6, 8192, 2);
        var config = new WorkloadBench.Config("documents", "http", List.of("no-cache", "store"), List.of(3.0), 5, sizes,
                5, 1, BuiltinModel.ensure(dir), 2, 60, 8, 1, 1, 256, 1 << 20, 64 << 20, dir.resolve("work-http"), null, false, "auto");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Map<String, Object> result = WorkloadBench.run(config, new PrintStream(log, true));
        String printed = log.toString();
        assertEquals(true, result.get("identical"), printed);
        @SuppressWarnings("unchecked")
        var modes = (Map<String, Map<String, Object>>) result.get("modes");
        for (var mode : modes.entrySet()) {
            assertEquals(6, mode.getValue().get("requests"), mode.getKey());
            assertEquals(0, mode.getValue().get("failed"), mode.getKey() + "\n" + printed);
        }
        assertEquals(1.0, hits(modes, "no-cache").get("miss"), printed);
        assertTrue((double) modes.get("store").get("output_tokens_per_s") > 0, "token ids came back\n" + printed);
        assertTrue(hits(modes, "store").get("local") + hits(modes, "store").get("host") > 0,
                "the HTTP API's usage says where the cached tokens came from\n" + printed);
    }

    @Test
    void theRolesAsSeparateProcessesServeTheTraceAndReportTheirMemory() throws Exception {
        // one mode, the store's: its roles are the most (kv-store, decode node, prefill node, router)
        var sizes = new WorkloadTrace.Sizes(2, 320, 2, 1, 1, 16, 6, 8192, 2);
        var config = new WorkloadBench.Config("documents", "grpc", List.of("store"), List.of(3.0), 5, sizes, 5, 1,
                BuiltinModel.ensure(dir), 1, 60, 8, 1, 1, 256, 1 << 20, 64 << 20, dir.resolve("work-processes"), null,
                true, "int8"); // every role a process, all passed the same quantized dtype
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Map<String, Object> result = WorkloadBench.run(config, new PrintStream(log, true));
        String printed = log.toString();
        @SuppressWarnings("unchecked")
        var store = ((Map<String, Map<String, Object>>) result.get("modes")).get("store");
        assertEquals(4, store.get("requests"));
        assertEquals(0, store.get("failed"), printed);
        assertTrue((double) store.get("output_tokens_per_s") > 0, printed);
        @SuppressWarnings("unchecked")
        var hits = (Map<String, Double>) store.get("hit_rate");
        assertTrue(hits.get("miss") < 1.0, "the second question on each document reused it\n" + printed);
        // the nodes' own counters, read from their /metrics
        assertTrue((long) store.get("store_bytes_written") > 0, printed);
        @SuppressWarnings("unchecked")
        var rss = (Map<String, Long>) store.get("peak_rss_bytes");
        assertEquals(List.of("kv-store", "decode-0", "prefill", "router"), List.copyOf(rss.keySet()), printed);
        rss.forEach((role, bytes) -> assertTrue(bytes > 10 << 20, role + " peak RSS " + bytes));
    }

    @Test
    void tracesAreSeededAndShapedAsAsked() {
        var sizes = new WorkloadTrace.Sizes(3, 100, 4, 5, 6, 20, 8, 1 + 4 * 28, 2);
        WorkloadTrace docs = WorkloadTrace.documents(sizes, 2.0, 11, 380);
        assertEquals(12, docs.requests());
        assertEquals(docs.sessions().stream().map(x -> x.turns().getFirst().id()).toList(),
                WorkloadTrace.documents(sizes, 2.0, 11, 380).sessions().stream().map(x -> x.turns().getFirst().id())
                        .toList(), "the same seed, the same trace");
        for (var s : docs.sessions()) {
            int[] prompt = s.turns().getFirst().tokens();
            assertEquals(1 + 100 + 20, prompt.length);
            int customer = Integer.parseInt(s.name().substring(1, s.name().indexOf('-')));
            assertEquals(customer % 2, s.tenant(), "customers spread over the tenants");
        }
        // chat: a turn adds 20 + 8 tokens; a context of 1 + 4 * 28 allows 4 of the 6 turns
        WorkloadTrace chat = WorkloadTrace.chat(sizes, 2.0, 11, 380);
        assertEquals(5, chat.sessions().size());
        double lastOfRound = 0;
        for (int k = 0; k < 4; k++) {
            double first = Double.MAX_VALUE, last = 0;
            for (var s : chat.sessions()) {
                assertEquals(4, s.turns().size());
                first = Math.min(first, s.turns().get(k).arrivalSeconds());
                last = Math.max(last, s.turns().get(k).arrivalSeconds());
            }
            assertTrue(first > lastOfRound, "round " + k + " starts after every conversation's turn " + (k - 1));
            lastOfRound = last;
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Double> hits(Map<String, Map<String, Object>> modes, String mode) {
        return (Map<String, Double>) modes.get(mode).get("hit_rate");
    }
}
