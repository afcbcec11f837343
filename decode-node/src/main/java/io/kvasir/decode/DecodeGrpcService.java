package io.kvasir.decode;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.engine.loop.QueueFullException;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.sampling.TokenLogprobs;
import io.kvasir.node.TracedListener;
import io.kvasir.node.WireSampling;
import io.kvasir.kv.block.TenantNames;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.DecodeResponse;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;

/** The decode node's gRPC face: one call per sequence, tokens streamed as the step loop makes them. */
public final class DecodeGrpcService extends DecodeServiceGrpc.DecodeServiceImplBase {
    /** When a refused request (RESOURCE_EXHAUSTED) may be tried again, in milliseconds. */
    public static final Metadata.Key<String> RETRY_AFTER_MS = Metadata.Key.of("retry-after-ms",
            Metadata.ASCII_STRING_MARSHALLER);

    private final Decoder engine;

    public DecodeGrpcService(Decoder engine) {
        this.engine = engine;
    }

    @Override
    public void decode(DecodeRequest request, StreamObserver<DecodeResponse> response) {
        ServerCallStreamObserver<DecodeResponse> out = (ServerCallStreamObserver<DecodeResponse>) response;
        EngineLoop.Handle handle;
        try {
            SamplingParams sampling = WireSampling.of(request.getSampling());
            int[] prompt = request.getPromptTokensList().stream().mapToInt(Integer::intValue).toArray();
            String tenant = TenantNames.require("tenant", request.getTenant().isEmpty() ? "default" : request.getTenant());
            String cacheOwner = request.getCacheOwner().isEmpty() ? tenant
                    : TenantNames.require("cache_owner", request.getCacheOwner());
            handle = engine.submit(new EngineLoop.Request(tenant, prompt, request.getMaxTokens(), sampling,
                    request.getPrefilled() ? request.getFirstToken() : -1, request.getCachedPromptTokens(),
                    request.getIgnoreEos(), cacheOwner,
                    Math.max(1, request.getWeight()),
                    Math.clamp(request.getCachedSsdTokens(), 0, Math.max(0, request.getCachedPromptTokens()))),
                    new TracedListener() {
                        @Override
                        public void onToken(int token) {
                            onToken(token, null);
                        }

                        @Override
                        public void onToken(int token, TokenLogprobs logprobs) {
                            markToken();
                            if (!out.isCancelled()) {
                                DecodeResponse.Builder r = DecodeResponse.newBuilder().addTokenIds(token);
                                if (logprobs != null) {
                                    r.addLogprobs(WireSampling.logprobs(logprobs));
                                }
                                out.onNext(r.build());
                            }
                        }

                        @Override
                        public void onFinish(EngineLoop.Finish f) {
                            if (out.isCancelled()) {
                                return;
                            }
                            out.onNext(DecodeResponse.newBuilder().setFinishReason(f.reason())
                                    .setPromptTokens(f.promptTokens()).setCachedPromptTokens(f.cachedPromptTokens())
                                    .setCachedLocalTokens(f.cachedLocalTokens()).setCachedHostTokens(f.cachedHostTokens())
                                    .setCachedSsdTokens(f.cachedSsdTokens())
                                    .setCompletionTokens(f.completionTokens()).setQueueSeconds(f.queueSeconds()).build());
                            out.onCompleted();
                        }

                        @Override
                        public void onError(RuntimeException e) {
                            if (!out.isCancelled()) {
                                out.onError(Status.INTERNAL.withDescription("decode failed: " + e).asException());
                            }
                        }
                    });
        } catch (IllegalArgumentException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asException());
            return;
        } catch (QueueFullException e) {
            Metadata trailers = new Metadata();
            trailers.put(RETRY_AFTER_MS, "1000");
            out.onError(Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage()).asException(trailers));
            return;
        } catch (IllegalStateException e) {
            out.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asException());
            return;
        }
        out.setOnCancelHandler(handle::cancel);
    }
}
