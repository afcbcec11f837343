package io.kvasir.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.proto.v1.Usage;

/**
 * Replays a {@link WorkloadTrace} against Kvasir's public gRPC API, or its OpenAI-compatible HTTP
 * API: each session on a virtual thread of its own, each turn sent at its arrival time (or when the
 * conversation's previous answer is in, if later), greedy, {@code ignore_eos} so every answer has the
 * trace's length. Times are taken as the client sees them.
 */
final class WorkloadRun {
    /**
     * One request as the client saw it, seconds from the start of the run; {@code gaps}: seconds
     * between consecutive tokens. {@code error} null when it succeeded.
     */
    record Outcome(String id, double arrival, double sent, double firstToken, double end, double[] gaps, int[] tokens,
            Usage usage, String error) {
        double ttft() {
            return firstToken - sent;
        }
    }

    private WorkloadRun() {
    }

    /**
     * Runs {@code trace} against {@code target} ({@code host:port}); {@code keys[t]} is tenant t's API
     * key. Prints a progress line to {@code progress} (null: none) every two seconds.
     */
    static List<Outcome> replay(WorkloadTrace trace, String target, String[] keys, String label, PrintStream progress)
            throws InterruptedException {
        return replay(trace, target, null, keys, label, progress);
    }

    /**
     * As {@link #replay(WorkloadTrace, String, String[], String, PrintStream)}; with {@code http}
     * (not null) through the HTTP API's {@code /v1/completions} instead of gRPC.
     */
    static List<Outcome> replay(WorkloadTrace trace, String target, HttpTarget http, String[] keys, String label,
            PrintStream progress) throws InterruptedException {
        ManagedChannel channel = NettyChannelBuilder.forTarget(target).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        HttpClient httpClient = http == null ? null : HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        Map<String, Outcome> outcomes = new ConcurrentHashMap<>();
        AtomicInteger inFlight = new AtomicInteger();
        long start = System.nanoTime();
        try (ExecutorService sessions = Executors.newVirtualThreadPerTaskExecutor()) {
            for (WorkloadTrace.Session s : trace.sessions()) {
                var api = GenerationServiceGrpc.newBlockingStub(channel).withInterceptors(
                        MetadataUtils.newAttachHeadersInterceptor(bearer(keys[s.tenant()])));
                Sender sender = http == null ? (turn, prompt, n) -> send(api, turn, prompt, n, start)
                        : (turn, prompt, n) -> sendHttp(httpClient, http, keys[s.tenant()], turn, prompt, n, start);
                sessions.submit(() -> runSession(sender, s, trace, outcomes, inFlight, start));
            }
            sessions.shutdown();
            int total = trace.requests();
            while (!sessions.awaitTermination(2, TimeUnit.SECONDS)) {
                if (progress != null) {
                    progress.printf("\rbench workload: %-9s %d/%d done, %d in flight, %.0f s   ", label,
                            outcomes.size(), total, inFlight.get(), (System.nanoTime() - start) / 1e9);
                    progress.flush();
                }
            }
        } finally {
            channel.shutdownNow();
            if (httpClient != null) {
                httpClient.close();
            }
        }
        if (progress != null) {
            progress.printf("\rbench workload: %-9s %d/%d done in %.1f s%30s%n", label, outcomes.size(),
                    trace.requests(), (System.nanoTime() - start) / 1e9, "");
        }
        List<Outcome> ordered = new ArrayList<>(outcomes.values());
        ordered.sort((a, b) -> Double.compare(a.arrival(), b.arrival()));
        return ordered;
    }

    /** Where the HTTP API listens and the model id it serves. */
    record HttpTarget(String base, String model) {
    }

    /** One request through one of the APIs. */
    private interface Sender {
        Outcome send(WorkloadTrace.Turn turn, int[] prompt, int outputTokens);
    }

    private static void runSession(Sender sender, WorkloadTrace.Session s, WorkloadTrace trace,
            Map<String, Outcome> outcomes, AtomicInteger inFlight, long start) {
        int[] context = new int[0];
        for (WorkloadTrace.Turn turn : s.turns()) {
            long due = start + (long) (turn.arrivalSeconds() * 1e9);
            while (System.nanoTime() < due) {
                LockSupport.parkNanos(due - System.nanoTime());
            }
            int[] prompt = s.continues() ? concat(context, turn.tokens()) : turn.tokens();
            if (prompt.length + trace.outputTokens() > trace.maxContext()) {
                return; // the conversation is as long as it may get
            }
            inFlight.incrementAndGet();
            Outcome o;
            try {
                o = sender.send(turn, prompt, trace.outputTokens());
            } finally {
                inFlight.decrementAndGet();
            }
            outcomes.put(turn.id(), o);
            if (o.error() != null) {
                return; // without its answer the conversation cannot go on
            }
            context = concat(prompt, o.tokens());
        }
    }

    /** The tokens of one answer with the times they arrived, as the client saw them. */
    private static final class Answer {
        private final List<Integer> tokens = new ArrayList<>();
        private final List<Double> gaps = new ArrayList<>();
        private double first = Double.NaN, last = Double.NaN;
        private Usage usage;

        void token(int id, double now) {
            if (tokens.isEmpty()) {
                first = now;
            } else {
                gaps.add(now - last);
            }
            tokens.add(id);
            last = now;
        }

        Outcome outcome(WorkloadTrace.Turn turn, double sent, double end, String error) {
            return new Outcome(turn.id(), turn.arrivalSeconds(), sent, first, end,
                    error == null ? gaps.stream().mapToDouble(Double::doubleValue).toArray() : new double[0],
                    tokens.stream().mapToInt(Integer::intValue).toArray(), usage, error);
        }
    }

    private static Outcome send(GenerationServiceGrpc.GenerationServiceBlockingStub api, WorkloadTrace.Turn turn,
            int[] prompt, int outputTokens, long start) {
        GenerateRequest.Builder r = GenerateRequest.newBuilder().setMaxTokens(outputTokens).setIgnoreEos(true)
                .setRequestId(turn.id());
        for (int t : prompt) {
            r.addPromptTokens(t);
        }
        double sent = seconds(start);
        Answer answer = new Answer();
        String error = null;
        try {
            Iterator<GenerateResponse> it = api.withDeadlineAfter(30, TimeUnit.MINUTES).generate(r.build());
            while (it.hasNext()) {
                GenerateResponse m = it.next();
                double now = seconds(start);
                m.getTokenIdsList().forEach(t -> answer.token(t, now));
                if (m.hasUsage()) {
                    answer.usage = m.getUsage();
                }
            }
        } catch (StatusRuntimeException e) {
            error = e.getStatus().getCode() + ": " + e.getStatus().getDescription();
        }
        return answer.outcome(turn, sent, seconds(start), error);
    }

    /**
     * The same request as a streamed {@code /v1/completions} call with the prompt as token ids and
     * vLLM's {@code return_token_ids}, so answers compare (and conversations continue) by id.
     */
    private static Outcome sendHttp(HttpClient client, HttpTarget http, String key, WorkloadTrace.Turn turn,
            int[] prompt, int outputTokens, long start) {
        JsonObject body = new JsonObject();
        body.addProperty("model", http.model());
        JsonArray ids = new JsonArray();
        for (int t : prompt) {
            ids.add(t);
        }
        body.add("prompt", ids);
        body.addProperty("max_tokens", outputTokens);
        body.addProperty("temperature", 0);
        body.addProperty("stream", true);
        body.addProperty("ignore_eos", true);
        body.addProperty("return_token_ids", true);
        HttpRequest request = HttpRequest.newBuilder(URI.create(http.base() + "/v1/completions"))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .timeout(Duration.ofMinutes(30)).POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        double sent = seconds(start);
        Answer answer = new Answer();
        String error = null;
        try {
            HttpResponse<java.util.stream.Stream<String>> response = client.send(request,
                    HttpResponse.BodyHandlers.ofLines());
            if (response.statusCode() != 200) {
                error = "HTTP " + response.statusCode() + ": " + String.join("", response.body().toList());
            } else {
                for (String line : (Iterable<String>) response.body()::iterator) {
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                        continue;
                    }
                    JsonObject chunk = JsonParser.parseString(line.substring(6)).getAsJsonObject();
                    if (chunk.has("error")) {
                        error = chunk.get("error").toString();
                        break;
                    }
                    double now = seconds(start);
                    JsonObject choice = chunk.getAsJsonArray("choices").get(0).getAsJsonObject();
                    choice.getAsJsonArray("token_ids").forEach(id -> answer.token(id.getAsInt(), now));
                    if (chunk.has("usage") && !chunk.get("usage").isJsonNull()) {
                        answer.usage = usage(chunk.getAsJsonObject("usage"));
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            error = e.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error = "interrupted";
        }
        return answer.outcome(turn, sent, seconds(start), error);
    }

    /** The HTTP API's usage as the gRPC API's, tiers included. */
    private static Usage usage(JsonObject u) {
        JsonObject d = u.has("prompt_tokens_details") ? u.getAsJsonObject("prompt_tokens_details") : new JsonObject();
        return Usage.newBuilder().setPromptTokens(u.get("prompt_tokens").getAsInt())
                .setCompletionTokens(u.get("completion_tokens").getAsInt())
                .setCachedPromptTokens(d.has("cached_tokens") ? d.get("cached_tokens").getAsInt() : 0)
                .setCachedLocalTokens(d.has("cached_local_tokens") ? d.get("cached_local_tokens").getAsInt() : 0)
                .setCachedHostTokens(d.has("cached_host_tokens") ? d.get("cached_host_tokens").getAsInt() : 0)
                .setCachedSsdTokens(d.has("cached_ssd_tokens") ? d.get("cached_ssd_tokens").getAsInt() : 0).build();
    }

    private static Metadata bearer(String key) {
        Metadata h = new Metadata();
        h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
        return h;
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
