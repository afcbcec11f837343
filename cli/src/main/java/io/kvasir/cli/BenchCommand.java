package io.kvasir.cli;

import com.google.gson.GsonBuilder;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.model.Batch;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.Sampler;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code kvasir bench engine --model PATH [--threads N] [--prompt-len P] [--gen G] [--reps R] [--batch B]
 * [--chunk C] [--json]}: the protocol of {@code ../shared/peer/bench.mjs}, so the figures compare
 * with llama.cpp's. The prompt is BOS then {@code 3 + (i·7919 + 13) mod (V − 3)}; one warm-up round,
 * then R rounds, each starting from an empty KV cache; prefill = the whole prompt (per sequence),
 * decode = G greedy steps of all B sequences together. decode tok/s counts the tokens of all B.
 */
final class BenchCommand {
    static final String USAGE = """
            usage: kvasir bench engine --model PATH [--threads N] [--prompt-len 512] [--gen 64] [--reps 3]
                                       [--batch 1] [--chunk 64] [--warmup 1] [--kv-cache-dtype auto] [--json]
              --warmup 0 skips the warm-up round (for long prompts, where one round takes minutes).
            """ + KvCacheTypes.USAGE;

    private static final Set<String> VALUES = Set.of("model", "threads", "prompt-len", "gen", "reps", "batch", "chunk", "warmup",
            "kv-cache-dtype");
    private static final Set<String> FLAGS = Set.of("json");

    private BenchCommand() {
    }

    static void run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        if (!argv.isEmpty() && argv.getFirst().equals("tenants")) {
            TenantBench.run(argv.subList(1, argv.size()), out, err);
            return;
        }
        if (!argv.isEmpty() && argv.getFirst().equals("serve")) {
            ServeBench.run(argv.subList(1, argv.size()), out, err);
            return;
        }
        if (!argv.isEmpty() && argv.getFirst().equals("workload")) {
            WorkloadBench.run(argv.subList(1, argv.size()), out, err);
            return;
        }
        if (!argv.isEmpty() && argv.getFirst().equals("prefix")) {
            PrefixBench.run(argv.subList(1, argv.size()), out, err);
            return;
        }
        if (!argv.isEmpty() && argv.getFirst().equals("kv")) {
            KvBench.run(argv.subList(1, argv.size()), out, err);
            return;
        }
        if (argv.isEmpty() || !argv.getFirst().equals("engine")) {
            throw new Args.UsageException("bench: which benchmark? (engine, kv, prefix, serve, tenants, workload)\n" + USAGE
                    + "\n" + KvBench.USAGE + "\n" + PrefixBench.USAGE + "\n" + ServeBench.USAGE + "\n" + TenantBench.USAGE
                    + "\n" + WorkloadBench.USAGE);
        }
        Args a = Args.parse("bench engine", argv.subList(1, argv.size()), VALUES, FLAGS);
        Path modelPath = Path.of(a.required("model"));
        int threads = a.positive("threads", VectorCpuBackend.defaultThreads());
        int promptLen = a.positive("prompt-len", 512);
        int gen = a.positive("gen", 64);
        int reps = a.positive("reps", 3);
        int batchSize = a.positive("batch", 1);
        int chunk = a.positive("chunk", 64);
        boolean json = a.has("json");
        int warmup = a.integer("warmup", 1);
        if (warmup < 0) {
            throw new Args.UsageException("bench engine: --warmup must be >= 0, got " + warmup);
        }

        try (var backend = new VectorCpuBackend(threads); Model model = Model.load(modelPath, backend)) {
            LlamaModel m = model.transformer();
            int vocab = m.config().vocabSize();
            if (promptLen + gen > m.config().contextLength()) {
                throw new IllegalArgumentException("--prompt-len %d + --gen %d exceed the model's context length %d"
                        .formatted(promptLen, gen, m.config().contextLength()));
            }
            int[] prompt = new int[promptLen];
            prompt[0] = 1;
            for (int i = 0; i < promptLen - 1; i++) prompt[i + 1] = 3 + (int) ((i * 7919L + 13) % (vocab - 3));
            KvCacheType kvType = KvCacheTypes.of("bench engine", a.string("kv-cache-dtype", "auto"), model);
            var run = new Rounds(m, prompt, gen, batchSize, chunk, kvType);
            double[] prefill = new double[reps], decode = new double[reps];
            int[] firstTokens = null;
            boolean deterministic = true;
            for (int r = -warmup; r < reps; r++) {
                if (!json) {
                    err.printf("\rbench: %s round %d/%d … ", r < 0 ? "warm-up" : "timed", Math.max(r + 1, 0), reps);
                    err.flush();
                }
                run.round();
                if (firstTokens == null) {
                    firstTokens = run.tokens.clone();
                }
                if (r >= 0) {
                    prefill[r] = run.prefillTps;
                    decode[r] = run.decodeTps;
                    deterministic &= Arrays.equals(firstTokens, run.tokens);
                }
            }
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("model", modelPath.toString());
            result.put("threads", threads);
            result.put("vector_bits", backend.vectorBits());
            result.put("prompt_len", promptLen);
            result.put("gen", gen);
            result.put("chunk", chunk);
            result.put("batch", batchSize);
            result.put("warmup_rounds", warmup);
            result.put("prefill_tps", stats(prefill));
            result.put("decode_tps", stats(decode));
            result.put("deterministic_across_rounds", deterministic);
            result.put("first_tokens", Arrays.copyOf(firstTokens, Math.min(8, firstTokens.length)));
            result.put("cpu", cpuName());
            // what one token's K/V take in a block (the store, the wire, SSD); the heap pool holds them as f32
            long floatsPerToken = (long) m.config().cachedLayers() * m.config().cachedFloatsPerLayer();
            result.put("kv_attention", m.config().mla() == null ? "GQA " + m.config().numHeads() + "/"
                    + m.config().numKvHeads() : "MLA latent " + m.config().mla().kvLoraRank() + " + rope "
                    + m.config().mla().qkRopeDim());
            result.put("kv_cache_dtype", kvType.id());
            result.put("kv_bytes_per_token", run.pool.bytesPerToken());
            result.put("kv_bytes_per_token_f32", floatsPerToken * 4);
            if (json) {
                out.println(new GsonBuilder().disableHtmlEscaping().create().toJson(result));
            } else {
                err.println("done");
                out.printf("model %s, %d threads, %d-bit vectors, batch %d, chunk %d (%s)%n",
                        modelPath, threads, backend.vectorBits(), batchSize, chunk, cpuName());
                out.printf("%-22s %10s %10s%n", "tokens/s", "min", "median");
                out.printf("%-22s %10.2f %10.2f%n", "prefill (" + promptLen + " tokens)", min(prefill), median(prefill));
                out.printf("%-22s %10.2f %10.2f%n", "decode (" + gen + " steps)", min(decode), median(decode));
                out.printf("KV per token: %s bytes as %s (%s bytes as f32), %s%n", result.get("kv_bytes_per_token"),
                        kvType.id(), result.get("kv_bytes_per_token_f32"), result.get("kv_attention"));
            }
        }
    }

    /** One sequence set: prefill each, then decode all together; KV released at the start of every round. */
    private static final class Rounds {
        final LlamaModel model;
        final int[] prompt;
        final int gen, batchSize;
        final KvBlockPool pool;
        final BlockTable[] tables;
        final ForwardBuffers prefillBuffers, decodeBuffers;
        final Batch batch;
        final int[] next;
        final int[] tokens; // sequence 0's generated tokens, to check determinism
        double prefillTps, decodeTps;

        Rounds(LlamaModel model, int[] prompt, int gen, int batchSize, int chunk, KvCacheType kvType) {
            this.model = model;
            this.prompt = prompt;
            this.gen = gen;
            this.batchSize = batchSize;
            int blockSize = io.kvasir.engine.Generator.DEFAULT_BLOCK_SIZE;
            int blocksPerSeq = (prompt.length + gen + blockSize) / blockSize;
            this.pool = model.newKvPool(blockSize, blocksPerSeq * batchSize, kvType);
            this.tables = new BlockTable[batchSize];
            for (int s = 0; s < batchSize; s++) tables[s] = new BlockTable(pool);
            this.prefillBuffers = model.newBuffers(Math.min(chunk, prompt.length));
            this.decodeBuffers = model.newBuffers(batchSize, batchSize);
            this.batch = new Batch(batchSize);
            this.next = new int[batchSize];
            this.tokens = new int[gen + 1];
        }

        void round() {
            int vocab = model.config().vocabSize();
            for (BlockTable t : tables) t.release();
            long t0 = System.nanoTime();
            for (int s = 0; s < batchSize; s++) {
                model.forward(prompt, 0, prompt.length, tables[s], prefillBuffers);
                next[s] = Sampler.argmax(prefillBuffers.logits);
            }
            long t1 = System.nanoTime();
            tokens[0] = next[0];
            for (int step = 0; step < gen; step++) {
                batch.clear();
                for (int s = 0; s < batchSize; s++) batch.add(next[s], tables[s].numTokens(), tables[s], true);
                model.forward(batch, decodeBuffers);
                for (int s = 0; s < batchSize; s++) {
                    next[s] = Sampler.argmax(decodeBuffers.logits, s * vocab, vocab);
                }
                tokens[step + 1] = next[0];
            }
            long t2 = System.nanoTime();
            prefillTps = (double) batchSize * prompt.length / ((t1 - t0) / 1e9);
            decodeTps = (double) batchSize * gen / ((t2 - t1) / 1e9);
        }
    }

    private static Map<String, Object> stats(double[] values) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("min", round2(min(values)));
        m.put("median", round2(median(values)));
        m.put("all", Arrays.stream(values).map(BenchCommand::round2).toArray());
        return m;
    }

    private static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(0);
    }

    /** bench.mjs's median: the upper middle element. */
    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static String cpuName() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU")
                    + ", " + Runtime.getRuntime().availableProcessors() + " cores";
        } catch (Exception e) {
            return System.getProperty("os.arch") + ", " + Runtime.getRuntime().availableProcessors() + " cores";
        }
    }
}
