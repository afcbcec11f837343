package io.kvasir.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import com.google.gson.Gson;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;

/**
 * {@code kvasir bench serve --server HOST:PORT}: time to first token of a long prompt, cold (never
 * seen: computed in full) and cached (the same prompt again: its full blocks come from the KV
 * store), through the public API. Each round uses a fresh prompt for the cold run.
 */
final class ServeBench {
    static final String USAGE = """
            usage: kvasir bench serve --server HOST:PORT [--prompt-len 2048] [--vocab 370] [--reps 3] [--json]
              Prompts are token ids below --vocab (370 suits the built-in model).""";

    private ServeBench() {
    }

    static void run(List<String> argv, PrintStream out, PrintStream err) throws InterruptedException {
        Args a = Args.parse("bench serve", argv, Set.of("server", "prompt-len", "vocab", "reps"), Set.of("json"));
        int len = a.integer("prompt-len", 2048), vocab = a.integer("vocab", 370), reps = a.integer("reps", 3);
        ManagedChannel channel = NettyChannelBuilder.forTarget(a.required("server")).usePlaintext().build();
        try {
            var api = GenerationServiceGrpc.newBlockingStub(channel);
            double[] cold = new double[reps], cached = new double[reps];
            int cachedTokens = 0;
            for (int r = 0; r < reps; r++) {
                int[] prompt = new int[len];
                prompt[0] = 1;
                for (int i = 1; i < len; i++) {
                    prompt[i] = 3 + (int) ((i * 7919L + (r + 1) * 104729L + System.nanoTime() % 1000) % (vocab - 3));
                }
                cold[r] = firstToken(api, prompt)[0];
                Thread.sleep(1000); // the decode node writes blocks to the store in the background
                double[] warm = firstToken(api, prompt);
                cached[r] = warm[0];
                cachedTokens = (int) warm[1];
                err.printf("  round %d: TTFT cold %.1f ms, cached %.1f ms (%d of %d prompt tokens cached)%n", r + 1,
                        cold[r], cached[r], cachedTokens, len);
            }
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("prompt_len", len);
            result.put("ttft_cold_ms", median(cold));
            result.put("ttft_cached_ms", median(cached));
            result.put("cached_prompt_tokens", cachedTokens);
            if (a.has("json")) {
                out.println(new Gson().toJson(result));
            } else {
                out.printf("TTFT for a %d-token prompt (median of %d): cold %.1f ms, cached %.1f ms%n", len, reps,
                        median(cold), median(cached));
            }
        } finally {
            channel.shutdownNow();
        }
    }

    /** Milliseconds to the first token, and the cached prompt tokens the request reported. */
    private static double[] firstToken(GenerationServiceGrpc.GenerationServiceBlockingStub api, int[] prompt) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(2);
        Arrays.stream(prompt).forEach(b::addPromptTokens);
        long t0 = System.nanoTime();
        Iterator<GenerateResponse> it = api.withDeadlineAfter(10, TimeUnit.MINUTES).generate(b.build());
        double ttft = -1;
        GenerateResponse last = null;
        while (it.hasNext()) {
            last = it.next();
            if (ttft < 0 && last.getTokenIdsCount() > 0) {
                ttft = (System.nanoTime() - t0) / 1e6;
            }
        }
        return new double[] {ttft, last == null ? 0 : last.getUsage().getCachedPromptTokens()};
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return Math.round(s[s.length / 2] * 10) / 10.0;
    }
}
