package io.kvasir.prefill;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.proto.internal.v1.PrefillRequest;
import io.kvasir.proto.internal.v1.PrefillResponse;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;

/** The prefill node's gRPC face. */
public final class PrefillGrpcService extends PrefillServiceGrpc.PrefillServiceImplBase {
    private final Prefiller engine;

    public PrefillGrpcService(Prefiller engine) {
        this.engine = engine;
    }

    @Override
    public void prefill(PrefillRequest request, StreamObserver<PrefillResponse> response) {
        Prefiller.Result r;
        try {
            SamplingParams sampling = new SamplingParams(request.getTemperature(), request.getTopK(),
                    request.getTopP() == 0 ? 1 : request.getTopP(), request.getSeed());
            int[] prompt = request.getPromptTokensList().stream().mapToInt(Integer::intValue).toArray();
            for (int i = 0; i < prompt.length; i++) {
                if (prompt[i] < 0) {
                    throw new IllegalArgumentException("prompt_tokens[" + i + "] = " + prompt[i] + " is negative");
                }
            }
            r = engine.prefill(request.getTenant().isEmpty() ? "default" : request.getTenant(), prompt, sampling);
        } catch (IllegalArgumentException e) {
            response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asException());
            return;
        }
        response.onNext(PrefillResponse.newBuilder().setFirstToken(r.firstToken()).setCachedPromptTokens(r.cachedTokens())
                .setCachedSsdTokens(r.cachedSsdTokens())
                .setStoredBlocks(r.storedBlocks()).build());
        response.onCompleted();
    }
}
