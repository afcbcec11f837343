package io.kvasir.prefill;

import java.util.concurrent.CancellationException;
import java.util.concurrent.Semaphore;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.WireSampling;
import io.kvasir.kv.block.TenantNames;
import io.kvasir.proto.internal.v1.PrefillRequest;
import io.kvasir.proto.internal.v1.PrefillResponse;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;

/**
 * The prefill node's gRPC face. Each call holds a handler thread until its prompt is done (prompts
 * run one at a time), so at most {@link #MAX_PROMPTS} may be queued or running; beyond, a call is
 * refused at once with RESOURCE_EXHAUSTED and the router has the decode node prefill instead.
 */
public final class PrefillGrpcService extends PrefillServiceGrpc.PrefillServiceImplBase {
    static final int MAX_PROMPTS = 64;

    private final Prefiller engine;
    private final int maxPrompts;
    private final Semaphore prompts;

    public PrefillGrpcService(Prefiller engine) {
        this(engine, MAX_PROMPTS);
    }

    PrefillGrpcService(Prefiller engine, int maxPrompts) {
        this.engine = engine;
        this.maxPrompts = maxPrompts;
        this.prompts = new Semaphore(maxPrompts);
    }

    @Override
    public void prefill(PrefillRequest request, StreamObserver<PrefillResponse> response) {
        if (!prompts.tryAcquire()) {
            response.onError(Status.RESOURCE_EXHAUSTED.withDescription("this prefill node has " + maxPrompts
                    + " prompts queued or running, its limit").asException());
            return;
        }
        try {
            prefillOne(request, response);
        } finally {
            prompts.release();
        }
    }

    private void prefillOne(PrefillRequest request, StreamObserver<PrefillResponse> response) {
        Prefiller.Result r;
        try {
            SamplingParams sampling = WireSampling.of(request.getSampling());
            int[] prompt = request.getPromptTokensList().stream().mapToInt(Integer::intValue).toArray();
            for (int i = 0; i < prompt.length; i++) {
                if (prompt[i] < 0) {
                    throw new IllegalArgumentException("prompt_tokens[" + i + "] = " + prompt[i] + " is negative");
                }
            }
            // the call's context is cancelled the moment its caller goes away (a deadline, a disconnect),
            // even while this handler thread waits on the engine: then the prompt is dropped or stopped
            Context call = Context.current();
            String tenant = TenantNames.require("tenant", request.getTenant().isEmpty() ? "default" : request.getTenant());
            r = engine.prefill(tenant, prompt, sampling,
                    cancel -> call.addListener(cancelled -> cancel.run(), Runnable::run));
        } catch (CancellationException e) {
            return; // nobody is waiting for the answer
        } catch (IllegalArgumentException e) {
            response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asException());
            return;
        } catch (RuntimeException e) { // the engine's own failure (closed, a bug): the router prefills elsewhere
            response.onError(Status.UNAVAILABLE.withDescription("prefill failed: " + e).asException());
            return;
        }
        response.onNext(PrefillResponse.newBuilder().setFirstToken(r.firstToken()).setCachedPromptTokens(r.cachedTokens())
                .setCachedSsdTokens(r.cachedSsdTokens())
                .setStoredBlocks(r.storedBlocks()).build());
        response.onCompleted();
    }
}
