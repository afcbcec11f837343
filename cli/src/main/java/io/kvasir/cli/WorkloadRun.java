package io.kvasir.cli;

import java.io.PrintStream;
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
 * Replays a {@link WorkloadTrace} against Kvasir's public gRPC API: each session on a virtual
 * thread of its own, each turn sent at its arrival time (or when the conversation's previous answer
 * is in, if later), greedy, {@code ignore_eos} so every answer has the trace's length. Times are
 * taken as the client sees them.
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
        ManagedChannel channel = NettyChannelBuilder.forTarget(target).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        Map<String, Outcome> outcomes = new ConcurrentHashMap<>();
        AtomicInteger inFlight = new AtomicInteger();
        long start = System.nanoTime();
        try (ExecutorService sessions = Executors.newVirtualThreadPerTaskExecutor()) {
            for (WorkloadTrace.Session s : trace.sessions()) {
                var api = GenerationServiceGrpc.newBlockingStub(channel).withInterceptors(
                        MetadataUtils.newAttachHeadersInterceptor(bearer(keys[s.tenant()])));
                sessions.submit(() -> runSession(api, s, trace, start, outcomes, inFlight));
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
        }
        if (progress != null) {
            progress.printf("\rbench workload: %-9s %d/%d done in %.1f s%30s%n", label, outcomes.size(),
                    trace.requests(), (System.nanoTime() - start) / 1e9, "");
        }
        List<Outcome> ordered = new ArrayList<>(outcomes.values());
        ordered.sort((a, b) -> Double.compare(a.arrival(), b.arrival()));
        return ordered;
    }

    private static void runSession(GenerationServiceGrpc.GenerationServiceBlockingStub api, WorkloadTrace.Session s,
            WorkloadTrace trace, long start, Map<String, Outcome> outcomes, AtomicInteger inFlight) {
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
                o = send(api, turn, prompt, trace.outputTokens(), start);
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

    private static Outcome send(GenerationServiceGrpc.GenerationServiceBlockingStub api, WorkloadTrace.Turn turn,
            int[] prompt, int outputTokens, long start) {
        GenerateRequest.Builder r = GenerateRequest.newBuilder().setMaxTokens(outputTokens).setIgnoreEos(true)
                .setRequestId(turn.id());
        for (int t : prompt) {
            r.addPromptTokens(t);
        }
        GenerateRequest request = r.build();
        double sent = seconds(start);
        double first = Double.NaN, last = Double.NaN;
        int[] tokens = new int[outputTokens];
        double[] gaps = new double[Math.max(0, outputTokens - 1)];
        int n = 0;
        Usage usage = null;
        try {
            Iterator<GenerateResponse> it = api.withDeadlineAfter(30, TimeUnit.MINUTES).generate(request);
            while (it.hasNext()) {
                GenerateResponse m = it.next();
                double now = seconds(start);
                for (int t : m.getTokenIdsList()) {
                    if (n == 0) {
                        first = now;
                    } else if (n - 1 < gaps.length) {
                        gaps[n - 1] = now - last;
                    }
                    if (n < tokens.length) {
                        tokens[n] = t;
                    }
                    n++;
                    last = now;
                }
                if (m.hasUsage()) {
                    usage = m.getUsage();
                }
            }
            return new Outcome(turn.id(), turn.arrivalSeconds(), sent, first, seconds(start),
                    Arrays.copyOf(gaps, Math.max(0, Math.min(n, outputTokens) - 1)), Arrays.copyOf(tokens, n), usage, null);
        } catch (StatusRuntimeException e) {
            return new Outcome(turn.id(), turn.arrivalSeconds(), sent, first, seconds(start), new double[0],
                    Arrays.copyOf(tokens, Math.min(n, outputTokens)), usage, e.getStatus().getCode() + ": "
                    + e.getStatus().getDescription());
        }
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
