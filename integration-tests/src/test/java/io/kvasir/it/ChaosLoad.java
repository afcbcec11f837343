package io.kvasir.it;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;

/**
 * Clients streaming requests whose greedy answers are known through two routers (half on each,
 * moving to the other router when theirs refuses them before the first token, as a client would),
 * and how every stream ended. Only a right answer or a clean failure is not wrong: completed with
 * the right tokens, failed before its first token with a retryable status, or after it with
 * UNAVAILABLE, the tokens before the failure right.
 */
final class ChaosLoad implements AutoCloseable {
    private final List<GenerationServiceGrpc.GenerationServiceBlockingStub> routers;
    private final int[][] prompts;
    private final int[][] expected;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final List<Thread> clients = new ArrayList<>();
    final AtomicInteger completed = new AtomicInteger();
    final AtomicInteger failedBeforeFirstToken = new AtomicInteger();
    final AtomicInteger failedMidStream = new AtomicInteger();
    final ConcurrentLinkedQueue<String> wrong = new ConcurrentLinkedQueue<>();

    /** Starts {@code clients} clients over {@code routers} (two), asking for {@code expected[i].length} tokens of {@code prompts[i]}. */
    ChaosLoad(List<GenerationServiceGrpc.GenerationServiceBlockingStub> routers, int[][] prompts, int[][] expected,
            int clients) {
        this.routers = routers;
        this.prompts = prompts;
        this.expected = expected;
        for (int c = 0; c < clients; c++) {
            int client = c;
            this.clients.add(Thread.ofPlatform().start(() -> {
                int router = client % routers.size();
                for (int n = 0; running.get(); n++) {
                    int p = (client + n) % prompts.length;
                    if (!stream(router, p)) {
                        router = (router + 1) % routers.size();
                    }
                }
            }));
        }
    }

    int streams() {
        return completed.get() + failedBeforeFirstToken.get() + failedMidStream.get() + wrong.size();
    }

    /** Waits until {@code n} more streams have ended (at most a minute). */
    void awaitStreams(int n) throws InterruptedException {
        int target = streams() + n;
        for (int i = 0; i < 600 && streams() < target; i++) {
            Thread.sleep(100);
        }
    }

    /** Stops the clients once their streams in flight end. */
    @Override
    public void close() {
        running.set(false);
        try {
            for (Thread t : clients) {
                t.join(120_000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return streams() + " streams: " + completed + " completed, " + failedBeforeFirstToken
                + " failed before their first token, " + failedMidStream + " failed mid-stream, " + wrong.size() + " wrong";
    }

    /** One request, its outcome filed; false when it failed before its first token (the client then tries elsewhere). */
    private boolean stream(int router, int p) {
        GenerateRequest.Builder request = GenerateRequest.newBuilder().setMaxTokens(expected[p].length);
        Arrays.stream(prompts[p]).forEach(request::addPromptTokens);
        List<Integer> got = new ArrayList<>();
        try {
            Iterator<GenerateResponse> it = routers.get(router).withDeadlineAfter(60, TimeUnit.SECONDS)
                    .generate(request.build());
            while (it.hasNext()) {
                got.addAll(it.next().getTokenIdsList());
            }
            if (!Arrays.equals(expected[p], got.stream().mapToInt(Integer::intValue).toArray())) {
                wrong.add("completed with " + got + ", expected " + Arrays.toString(expected[p]));
            } else {
                completed.incrementAndGet();
            }
            return true;
        } catch (StatusRuntimeException e) {
            Status.Code code = e.getStatus().getCode();
            int[] prefix = got.stream().mapToInt(Integer::intValue).toArray();
            if (!Arrays.equals(prefix, Arrays.copyOf(expected[p], Math.min(prefix.length, expected[p].length)))) {
                wrong.add("failed (" + code + ") after " + got + ", expected " + Arrays.toString(expected[p]));
            } else if (got.isEmpty() && (code == Status.Code.UNAVAILABLE || code == Status.Code.RESOURCE_EXHAUSTED)) {
                failedBeforeFirstToken.incrementAndGet();
            } else if (!got.isEmpty() && code == Status.Code.UNAVAILABLE) {
                failedMidStream.incrementAndGet();
            } else {
                wrong.add("failed with " + e.getStatus() + " after " + got.size() + " tokens");
            }
            return !got.isEmpty();
        }
    }
}
