package io.kvasir.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.google.gson.GsonBuilder;

import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;

/**
 * {@code kvasir bench workload}: one seeded trace replayed against each caching configuration in
 * turn, each a fresh cluster in this JVM (as {@code serve} runs) or, with {@code --processes}, of
 * role processes (as an operator runs them), side by side: goodput under the
 * latency objectives, TTFT and inter-token percentiles, where the KV came from, and whether every
 * greedy answer equals the one computed without any cache.
 */
final class WorkloadBench {
    static final String USAGE = """
            usage: kvasir bench workload [--mix documents|chat] [--modes no-cache,local-rr,local,store,store-rr] [--api grpc|http]
                     [--rate 0.2|0.5 | --rates A,B,C] [--seed 1] [--tenants 2] [--slo-ttft 3s] [--slo-itl 500ms]
                     documents: [--customers 4] [--doc-tokens 2048] [--users 6] [--question-tokens 32]
                     chat:      [--conversations 8] [--turns 5] [--question-tokens 256] [--context-tokens 0]
                                [--max-context 32768]
                     [--output-tokens 16] [--model bench|long|builtin|PATH] [--decode-nodes 2] [--kv-blocks 224]
                     [--max-batch 16] [--threads 1] [--prefill-threads N] [--prefill-threshold 256] [--kv-host-budget 32m]
                     [--kv-ssd-budget 1g] [--processes] [--work-dir DIR] [--json] [--plot FILE.svg] [--save-requests FILE.jsonl]
                     [--kv-cache-dtype auto|f32|f16|bf16|fp8|int8]
              Modes: no-cache (no prefix reuse), local-rr (each decode node's pool, round-robin routing),
              local (the pools, KV-aware routing), store (pools + the store's host and SSD tiers, KV-aware),
              store-rr (the store, round-robin). Each decode node runs --threads, the prefill node (store
              modes only) --prefill-threads (default: every core), so each mode can use the whole machine.
              Defaults fit this workload to a 2-core machine: the model is a 133M-parameter Llama shape with
              random F16 weights (written once into ~/.cache/kvasir); each node's pool holds 1.75 documents,
              less than the two that KV-aware routing gives it; the host tier holds less than their KV;
              documents arrive at 0.2 req/s, chat turns at 0.5. --model long:
              a 3M-parameter shape (hidden 256, 4 layers, GQA 4/2) with a 136K context, for 128K conversations.
              --processes: each role a process of its own (kv-store, decode nodes, prefill node, router), as
              an operator runs them; the JSON then gives each process's peak resident set.""";

    private static final Set<String> VALUES = Set.of("mix", "modes", "rate", "rates", "seed", "tenants", "slo-ttft",
            "slo-itl", "customers", "doc-tokens", "users", "question-tokens", "conversations", "turns", "max-context",
            "output-tokens", "model", "decode-nodes", "kv-blocks", "max-batch", "threads", "prefill-threshold",
            "kv-host-budget", "kv-ssd-budget", "work-dir", "plot", "cache-dir", "save-requests", "prefill-threads",
            "context-tokens", "api", "kv-cache-dtype");
    private static final Set<String> FLAGS = Set.of("json", "processes");
    static final List<String> ALL_MODES = List.of("no-cache", "local-rr", "local", "store", "store-rr");

    /**
     * The default model: Llama-shaped, 133M parameters (hidden 1024, 12 layers, 16 query heads, 2 KV
     * heads, FFN 2816), F16. Its prefill costs 43 kFLOP per byte of f16 KV it produces, the order of
     * real models (Llama-3.2-1B: 77, Llama-3.1-8B: 122), so computing a prefix against fetching it
     * weighs as it would for them; small enough that the default workload runs in minutes here.
     */
    static final BuiltinModel.Shape BENCH_MODEL = new BuiltinModel.Shape("kvasir-bench-133m-f16-v1.gguf", 1024, 12, 16,
            2, 2816, 32768, true);

    /** For conversations of 128K tokens: hidden 256, 4 layers, 4 query heads and 2 KV heads, 136K context. */
    static final BuiltinModel.Shape LONG_MODEL = new BuiltinModel.Shape("kvasir-long-256x4-136k-v1.gguf", 256, 4, 4, 2,
            768, 139264, false);

    /**
     * Held so their levels stick: each mode starts and stops a cluster, whose routine start-up lines
     * (and Hazelcast's warnings about a lone member leaving) would bury the progress line.
     */
    private static final List<Logger> QUIETED = List.of(Logger.getLogger("io.kvasir"), Logger.getLogger("org.eclipse.jetty"),
            Logger.getLogger("com.hazelcast"));

    private WorkloadBench() {
    }

    /** Everything a run needs, from the flags. */
    record Config(String mix, String api, List<String> modes, List<Double> rates, long seed, WorkloadTrace.Sizes sizes,
            double sloTtft, double sloItl, Path model, int decodeNodes, int kvBlocks, int maxBatch, int threads,
            int prefillThreads, int prefillThreshold, long hostBudget, long ssdBudget, Path workDir, Path saveRequests,
            boolean processes, String kvCacheDtype) {
    }

    static void run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args a = Args.parse("bench workload", argv, VALUES, FLAGS);
        Config c = config(a, err);
        QUIETED.forEach(l -> l.setLevel(l.getName().equals("com.hazelcast") ? Level.SEVERE : Level.WARNING));
        Map<String, Object> result = run(c, err);
        if (a.has("plot")) {
            @SuppressWarnings("unchecked")
            var runs = (Map<Double, Map<String, WorkloadReport>>) result.remove("reports");
            Path plot = Path.of(a.string("plot", null));
            Files.writeString(plot, WorkloadPlot.svg(c.mix() + " mix", runs));
            err.println("bench workload: plot written to " + plot.toAbsolutePath());
        }
        result.remove("reports");
        if (a.has("json")) {
            out.println(new GsonBuilder().disableHtmlEscaping().create().toJson(result));
        }
    }

    static Config config(Args a, PrintStream err) {
        String mix = a.string("mix", "documents");
        if (!mix.equals("documents") && !mix.equals("chat")) {
            throw new Args.UsageException("bench workload: --mix must be documents or chat, got '" + mix + "'");
        }
        List<String> modes = List.of(a.string("modes", String.join(",", ALL_MODES)).split(","));
        for (String m : modes) {
            if (!ALL_MODES.contains(m)) {
                throw new Args.UsageException("bench workload: unknown mode '" + m + "' in --modes (known: "
                        + String.join(", ", ALL_MODES) + ")");
            }
        }
        boolean chat = mix.equals("chat");
        List<Double> rates = new ArrayList<>();
        for (String r : a.string("rates", a.string("rate", chat ? "0.5" : "0.2")).split(",")) {
            try {
                double v = Double.parseDouble(r);
                if (!(v > 0) || Double.isInfinite(v)) {
                    throw new NumberFormatException();
                }
                rates.add(v);
            } catch (NumberFormatException e) {
                throw new Args.UsageException("bench workload: a rate must be a positive number of requests per second, got '"
                        + r + "'");
            }
        }
        Path cacheDir = Path.of(a.string("cache-dir", System.getProperty("user.home") + "/.cache/kvasir"));
        String model = a.string("model", "bench");
        Path modelPath = switch (model) {
            case "bench" -> {
                err.println("bench workload: model " + BENCH_MODEL.name() + " (" + BENCH_MODEL.parameters() / 1_000_000
                        + "M parameters, random F16 weights) in " + cacheDir);
                yield BuiltinModel.ensure(cacheDir, BENCH_MODEL);
            }
            case "long" -> BuiltinModel.ensure(cacheDir, LONG_MODEL);
            case "builtin" -> BuiltinModel.ensure(cacheDir);
            default -> Path.of(model);
        };
        var sizes = new WorkloadTrace.Sizes(a.positive("customers", 4), a.positive("doc-tokens", 2048),
                a.positive("users", 6), a.positive("conversations", 8), a.positive("turns", 5),
                a.positive("question-tokens", chat ? 256 : 32), a.positive("output-tokens", 16),
                a.positive("max-context", 32768), a.positive("tenants", 2), a.integer("context-tokens", 0));
        if (sizes.contextTokens() < 0) {
            throw new Args.UsageException("bench workload: --context-tokens must be >= 0, got " + sizes.contextTokens());
        }
        Path work;
        try {
            work = a.has("work-dir") ? Path.of(a.string("work-dir", null)) : Files.createTempDirectory("kvasir-workload");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a work directory for the SSD tier: " + e.getMessage(), e);
        }
        String api = a.string("api", "grpc");
        if (!api.equals("grpc") && !api.equals("http")) {
            throw new Args.UsageException("bench workload: --api must be grpc or http, got '" + api + "'");
        }
        return new Config(mix, api, modes, rates, a.longValue("seed", 1), sizes, seconds(a, "slo-ttft", "3s"),
                seconds(a, "slo-itl", "500ms"), modelPath, a.positive("decode-nodes", 2), a.positive("kv-blocks", 224),
                a.positive("max-batch", 16), a.positive("threads", 1),
                a.positive("prefill-threads", VectorCpuBackend.defaultThreads()), a.positive("prefill-threshold", 256),
                Sizes.parse("kv-host-budget", a.string("kv-host-budget", "32m")),
                Sizes.parse("kv-ssd-budget", a.string("kv-ssd-budget", "1g")), work,
                a.has("save-requests") ? Path.of(a.string("save-requests", null)) : null, a.has("processes"),
                a.string("kv-cache-dtype", "auto"));
    }

    /**
     * Runs every mode at every rate; the answer is the JSON object {@code --json} prints (plus
     * "reports": rate → mode → report, for the plot).
     */
    static Map<String, Object> run(Config c, PrintStream err) throws Exception {
        int vocab, context;
        try (VectorCpuBackend backend = new VectorCpuBackend(1); Model m = Model.load(c.model(), backend)) {
            vocab = m.transformer().config().vocabSize();
            context = m.transformer().config().contextLength();
        }
        Map<String, Object> config = describe(c, context);
        err.println("bench workload: " + config);
        Map<Double, Map<String, WorkloadReport>> reports = new LinkedHashMap<>();
        List<Map<String, Object>> sweep = new ArrayList<>();
        boolean identical = true;
        List<String> mismatches = new ArrayList<>();
        if (c.saveRequests() != null) {
            Files.deleteIfExists(c.saveRequests());
        }
        for (double rate : c.rates()) {
            WorkloadTrace trace = c.mix().equals("chat")
                    ? WorkloadTrace.chat(c.sizes(), rate, c.seed(), vocab)
                    : WorkloadTrace.documents(c.sizes(), rate, c.seed(), vocab);
            trace = new WorkloadTrace(trace.mix(), trace.sessions(), trace.outputTokens(),
                    Math.min(trace.maxContext(), context));
            Map<String, WorkloadReport> byMode = new LinkedHashMap<>();
            Map<String, Map<String, Long>> rssByMode = new LinkedHashMap<>();
            Map<String, int[]> reference = null;
            for (String mode : c.modes()) {
                List<WorkloadRun.Outcome> outcomes;
                long[] bytes;
                try (WorkloadCluster cluster = WorkloadCluster.start(c, mode)) {
                    warmUp(cluster, vocab);
                    cluster.resetCounters();
                    var http = c.api().equals("http") ? new WorkloadRun.HttpTarget("http://127.0.0.1:"
                            + cluster.httpPort(), c.model().getFileName().toString().replaceFirst("\\.gguf$", ""))
                            : null;
                    outcomes = WorkloadRun.replay(trace, "127.0.0.1:" + cluster.apiPort(), http, cluster.keys,
                            mode + (c.rates().size() > 1 ? "@" + rate : ""), err);
                    bytes = cluster.storeBytes();
                    if (cluster.embedded != null && mode.startsWith("store")) {
                        err.println("bench workload: " + mode + " store member: " + cluster.embedded.storeStats());
                    }
                    if (cluster.processes != null) {
                        rssByMode.put(mode, cluster.processes.peakRss());
                        err.println("bench workload: " + mode + " peak RSS by process (MB): " + megabytes(rssByMode.get(mode)));
                        if (outcomes.stream().allMatch(o -> o.error() == null)) {
                            cluster.deleteLogs();
                        } else {
                            err.println("bench workload: " + mode + " had failures; the roles' logs are in " + cluster.logDir);
                        }
                    }
                }
                Map<String, int[]> answers = new HashMap<>();
                for (WorkloadRun.Outcome o : outcomes) {
                    if (o.error() == null) {
                        answers.put(o.id(), o.tokens());
                    } else {
                        err.println("bench workload: " + mode + " " + o.id() + " failed: " + o.error());
                    }
                }
                if (reference == null) {
                    reference = answers; // the first mode run (no-cache by default) is what the others must equal
                } else {
                    for (var e : reference.entrySet()) {
                        int[] got = answers.get(e.getKey());
                        if (got == null || !Arrays.equals(got, e.getValue())) {
                            identical = false;
                            mismatches.add(mode + "@" + rate + ":" + e.getKey());
                        }
                    }
                }
                byMode.put(mode, WorkloadReport.of(mode, outcomes, c.sloTtft(), c.sloItl(), bytes));
                if (c.saveRequests() != null) {
                    saveRequests(c.saveRequests(), mode, rate, outcomes);
                }
            }
            reports.put(rate, byMode);
            err.printf("%nbench workload: %s mix, %d requests at %.3g req/s; SLO: TTFT <= %.0f ms, ITL p90 <= %.0f ms%n",
                    trace.mix(), trace.requests(), rate, c.sloTtft() * 1000, c.sloItl() * 1000);
            err.println(WorkloadReport.header());
            byMode.values().forEach(r -> err.println(r.row()));
            Map<String, Object> modes = new LinkedHashMap<>();
            byMode.forEach((k, v) -> {
                Map<String, Object> json = v.json();
                if (rssByMode.containsKey(k)) {
                    json.put("peak_rss_bytes", rssByMode.get(k));
                }
                modes.put(k, json);
            });
            sweep.add(Map.of("rate", rate, "modes", modes));
        }
        err.println("bench workload: outputs identical across modes: " + identical
                + (mismatches.isEmpty() ? "" : " (differ: " + mismatches + ")"));
        try {
            Files.deleteIfExists(c.workDir()); // only when empty: the modes' SSD directories are gone by now
        } catch (IOException e) {
            // a directory left behind is not worth failing the run for
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("modes", sweep.getLast().get("modes"));
        result.put("identical", identical);
        if (!mismatches.isEmpty()) {
            result.put("mismatches", mismatches);
        }
        result.put("rate", c.rates().getLast());
        if (sweep.size() > 1) {
            result.put("sweep", sweep);
        }
        result.put("config", config);
        result.put("peak_rss_bytes", ProcessCluster.peakRss(ProcessHandle.current().pid()));
        result.put("reports", reports);
        return result;
    }

    private static Map<String, Long> megabytes(Map<String, Long> bytes) {
        Map<String, Long> mb = new LinkedHashMap<>();
        bytes.forEach((k, v) -> mb.put(k, v / 1_000_000));
        return mb;
    }

    /** One JSON line per request: when it came, what it waited, where its prompt's KV came from. */
    private static void saveRequests(Path file, String mode, double rate, List<WorkloadRun.Outcome> outcomes)
            throws IOException {
        var gson = new GsonBuilder().disableHtmlEscaping().create();
        StringBuilder lines = new StringBuilder();
        for (WorkloadRun.Outcome o : outcomes) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("mode", mode);
            m.put("rate", rate);
            m.put("id", o.id());
            m.put("arrival_s", o.arrival());
            m.put("sent_s", o.sent());
            m.put("ttft_ms", o.ttft() * 1000);
            m.put("end_s", o.end());
            m.put("itl_p90_ms", WorkloadReport.percentile(o.gaps(), 90) * 1000);
            if (o.usage() != null) {
                m.put("prompt_tokens", o.usage().getPromptTokens());
                m.put("cached_local", o.usage().getCachedLocalTokens());
                m.put("cached_host", o.usage().getCachedHostTokens());
                m.put("cached_ssd", o.usage().getCachedSsdTokens());
            }
            if (o.error() != null) {
                m.put("error", o.error());
            }
            lines.append(gson.toJson(m)).append('\n');
        }
        Files.writeString(file, lines, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    }

    private static Map<String, Object> describe(Config c, int context) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mix", c.mix());
        m.put("api", c.api());
        m.put("seed", c.seed());
        var s = c.sizes();
        if (c.mix().equals("documents")) {
            m.put("customers", s.customers());
            m.put("doc_tokens", s.documentTokens());
            m.put("users_per_customer", s.usersPerCustomer());
        } else {
            m.put("conversations", s.conversations());
            m.put("turns", s.turns());
            m.put("context_tokens", s.contextTokens());
            m.put("max_context", Math.min(s.maxContext(), context));
        }
        m.put("question_tokens", s.questionTokens());
        m.put("output_tokens", s.outputTokens());
        m.put("tenants", s.tenants());
        m.put("slo_ttft_ms", c.sloTtft() * 1000);
        m.put("slo_itl_ms", c.sloItl() * 1000);
        m.put("model", c.model().getFileName().toString());
        m.put("decode_nodes", c.decodeNodes());
        m.put("kv_blocks_per_node", c.kvBlocks());
        m.put("threads_per_decode_node", c.threads());
        m.put("threads_of_prefill_node", c.prefillThreads());
        m.put("kv_host_budget", c.hostBudget());
        m.put("kv_ssd_budget", c.ssdBudget());
        m.put("processes", c.processes());
        m.put("kv_cache_dtype", c.kvCacheDtype());
        return m;
    }

    /** A few short requests first, so the JIT has compiled the hot paths before anything is timed. */
    private static void warmUp(WorkloadCluster cluster, int vocab) throws InterruptedException {
        var sizes = new WorkloadTrace.Sizes(1, 200, 3, 1, 1, 16, 4, 4096, 1);
        WorkloadTrace warm = WorkloadTrace.documents(sizes, 1000, 99, vocab);
        WorkloadRun.replay(warm, "127.0.0.1:" + cluster.apiPort(), new String[] {cluster.warmUpKey}, "warm-up",
                null);
    }

    /** A duration flag: {@code 2s}, {@code 500ms}, or a bare number of seconds. */
    static double seconds(Args a, String name, String fallback) {
        String text = a.string(name, fallback).trim();
        try {
            double v = text.endsWith("ms") ? Double.parseDouble(text.substring(0, text.length() - 2)) / 1000
                    : Double.parseDouble(text.endsWith("s") ? text.substring(0, text.length() - 1) : text);
            if (!(v > 0)) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new Args.UsageException("bench workload: --" + name + " must be a duration like 2s or 500ms, got '"
                    + text + "'");
        }
    }
}
