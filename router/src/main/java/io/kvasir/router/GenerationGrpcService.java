package io.kvasir.router;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.kvasir.engine.tokenizer.StreamingDecoder;
import io.kvasir.engine.tokenizer.Tokenizer;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.DecodeResponse;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.proto.v1.Usage;
import io.kvasir.telemetry.Telemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;

/**
 * The public {@code Generate}: validates and tokenizes, sends the sequence to a decode node, and
 * relays its tokens with their text (stop strings cut, incomplete UTF-8 held back). A node that
 * fails before the first token is replaced by another; after that the client gets a clean
 * {@code UNAVAILABLE} (its tokens so far were right, and a resend is safe), never a spliced stream.
 */
public final class GenerationGrpcService extends GenerationServiceGrpc.GenerationServiceImplBase {
    private static final Logger LOG = Logger.getLogger(GenerationGrpcService.class.getName());

    private final Tokenizer tokenizer;
    private final int vocab;
    private final int context;
    private final DecodeRoutes routes;
    private final PlacementPolicy placement;
    private final RouterMetrics metrics;
    private final TenantLimits limits;

    /** Retry hint on RESOURCE_EXHAUSTED (milliseconds), which the HTTP API turns into Retry-After. */
    public static final io.grpc.Metadata.Key<String> RETRY_AFTER_MS =
            io.grpc.Metadata.Key.of("retry-after-ms", io.grpc.Metadata.ASCII_STRING_MARSHALLER);

    public GenerationGrpcService(Tokenizer tokenizer, int vocab, int context, DecodeRoutes routes,
            PlacementPolicy placement, RouterMetrics metrics, TenantLimits limits) {
        this.metrics = metrics;
        this.limits = limits;
        this.tokenizer = tokenizer;
        this.vocab = vocab;
        this.context = context;
        this.routes = routes;
        this.placement = placement;
    }

    /** {@code text} as the model's tokens, as {@code Generate} tokenizes a prompt (BOS where the model wants it). */
    int[] tokenize(String text) {
        return tokenizer.encode(text);
    }

    /**
     * The text of {@code tokens}: the prompt that {@link #tokenize}s back to them where one exists.
     * SentencePiece vocabularies mark a word start with a space, so a prompt's first word decodes
     * with a space the prompt never had; that space is dropped when the text without it round-trips.
     * An id outside the vocabulary is an {@link InvalidRequestException} naming it.
     */
    String detokenize(int[] tokens) throws InvalidRequestException {
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocab) {
                throw new InvalidRequestException("tokens[" + i + "]", tokens[i] + " is outside the vocabulary [0, "
                        + vocab + ")");
            }
        }
        String text = tokenizer.decode(tokens);
        if (text.startsWith(" ") && java.util.Arrays.equals(tokenizer.encode(text.substring(1)), tokens)) {
            return text.substring(1);
        }
        return text;
    }

    /** One token's own text (a SentencePiece word start with its space), as logprobs name tokens. */
    String tokenText(int token) {
        return tokenizer.decode(new int[] {token});
    }

    /** The model's context length: prompt and generated tokens together. */
    int contextLength() {
        return context;
    }

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateResponse> response) {
        ServerCallStreamObserver<GenerateResponse> out = (ServerCallStreamObserver<GenerateResponse>) response;
        generate(TenantInterceptor.TENANT.get(), request, out, out::setOnCancelHandler);
    }

    /**
     * {@code Generate} for a caller in this process (the HTTP API), already authenticated as
     * {@code caller}: responses go to {@code out}, and {@code onCancel} receives what cancels the
     * request (the caller runs it when its client goes away).
     */
    public void generate(Tenant caller, GenerateRequest request, StreamObserver<GenerateResponse> out,
            Consumer<Runnable> onCancel) {
        ValidatedRequest v;
        Span tokenize = Telemetry.childSpan("tokenize");
        try {
            v = ValidatedRequest.of(request, tokenizer, vocab, context);
            tokenize.setAttribute("kvasir.prompt_tokens", v.promptTokens().length);
        } catch (InvalidRequestException e) {
            metrics.error(Status.Code.INVALID_ARGUMENT.name());
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asException());
            return;
        } catch (RuntimeException e) {
            metrics.error(Status.Code.INVALID_ARGUMENT.name());
            out.onError(Status.INVALID_ARGUMENT.withDescription("prompt: cannot tokenize: " + e.getMessage()).asException());
            return;
        } finally {
            tokenize.end();
        }
        String tenant = caller.name();
        String cacheOwner = caller.cacheOwner(request.getCacheSalt());
        DecodeRequest.Builder d = DecodeRequest.newBuilder().setTenant(tenant).setCacheOwner(cacheOwner)
                .setWeight(caller.weight())
                .setMaxTokens(v.maxTokens()).setSampling(v.sampling()).setIgnoreEos(request.getIgnoreEos());
        for (int t : v.promptTokens()) {
            d.addPromptTokens(t);
        }
        TenantLimits.Admission admission = limits.admit(tenant, cacheOwner, v.promptTokens().length);
        if (admission instanceof TenantLimits.Refusal refused) {
            metrics.refused(tenant);
            metrics.error(Status.Code.RESOURCE_EXHAUSTED.name());
            io.grpc.Metadata trailers = new io.grpc.Metadata();
            trailers.put(RETRY_AFTER_MS, Long.toString(refused.retryAfterMillis()));
            out.onError(Status.RESOURCE_EXHAUSTED.withDescription(refused.reason()).asException(trailers));
            return;
        }
        TenantLimits.Permit permit = (TenantLimits.Permit) admission;
        long startNanos = System.nanoTime();
        metrics.started();
        PlacementPolicy.Plan plan;
        Span route = Telemetry.childSpan("route");
        try (Scope ignored = route.makeCurrent()) {
            plan = placement.plan(d.build());
            route.setAttribute("kvasir.preferred_node", plan.decodeNode()); // none: not set
            route.setAttribute("kvasir.prefilled", plan.request().getPrefilled()); // cached tokens: its prefix lookup's
        } catch (RuntimeException e) {
            // the tenant's place goes back, and the client hears why: nothing is left holding it
            LOG.log(Level.WARNING, "placing a request failed", e);
            route.setStatus(StatusCode.ERROR, e.toString());
            metrics.failed(Status.Code.UNAVAILABLE.name());
            permit.release(0);
            out.onError(Status.UNAVAILABLE.withDescription("the router could not place the request: " + e)
                    .asException());
            return;
        } finally {
            route.end();
        }
        Relay relay = new Relay(plan, v, request.getRequestId(), out, startNanos, tenant, permit);
        onCancel.accept(relay::cancel);
        relay.start();
    }

    /**
     * How long a decode node may take over a request before the router gives up on it: a node that
     * hangs must not hold the client and the tenant's place for good. Generous, as for prefill: ten
     * minutes (a long wait for room on a busy node), plus 10 ms per prompt token and 1 s per token
     * to generate (a CPU node's slowest step).
     */
    static long decodeDeadlineMillis(DecodeRequest request) {
        return TimeUnit.MINUTES.toMillis(10) + 10L * request.getPromptTokensCount() + 1000L * request.getMaxTokens();
    }

    /** One request's relay from a decode node to the client, through retries. */
    private final class Relay implements ClientResponseObserver<DecodeRequest, DecodeResponse> {
        private final DecodeRequest request;
        private final String preferredNode;
        private final PlacementPolicy.Plan plan;
        private final String requestId;
        private final StreamObserver<GenerateResponse> out;
        private final StreamingDecoder text = new StreamingDecoder(tokenizer);
        private final StopMatcher stops;
        private final java.util.Set<Integer> stopTokenIds;
        private final List<String> tried = new ArrayList<>();
        private final AtomicReference<ClientCallStreamObserver<DecodeRequest>> call = new AtomicReference<>();
        private DecodeRoutes.Route node;
        private int completion;
        private boolean sentAny;
        private final long startNanos;
        private final String tenant;
        private final TenantLimits.Permit permit;
        private long lastTokenNanos;
        private volatile boolean done;
        /** The request's trace: every attempt on a decode node starts in it, whatever thread retries. */
        private final Context trace = Context.current();
        /** From the first token to the end (no-op outside a trace). */
        private Span stream = Span.getInvalid();

        Relay(PlacementPolicy.Plan plan, ValidatedRequest v, String requestId,
                StreamObserver<GenerateResponse> out, long startNanos, String tenant, TenantLimits.Permit permit) {
            this.startNanos = startNanos;
            this.tenant = tenant;
            this.permit = permit;
            this.plan = plan;
            this.request = plan.request();
            this.preferredNode = plan.decodeNode();
            this.requestId = requestId;
            this.out = out;
            this.stops = new StopMatcher(v.stop());
            this.stopTokenIds = v.stopTokenIds();
        }

        void start() {
            try (Scope ignored = trace.makeCurrent()) {
                node = routes.pick(tried, preferredNode);
                if (node == null) {
                    finishWithError(Status.UNAVAILABLE.withDescription("no decode node could take the request (tried "
                            + tried.size() + ")"));
                    return;
                }
                tried.add(node.id());
                routes.started(node);
                placement.routed(plan, node.id());
                DecodeServiceGrpc.newStub(node.channel()).withDeadlineAfter(decodeDeadlineMillis(request),
                        TimeUnit.MILLISECONDS).decode(request, this);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "starting a request on a decode node failed", e);
                finishWithError(Status.UNAVAILABLE.withDescription("the router could not start the request: " + e));
            }
        }

        void cancel() {
            if (!done) {
                metrics.failed(Status.Code.CANCELLED.name());
                permit.release(completion);
            }
            done = true;
            ClientCallStreamObserver<DecodeRequest> c = call.get();
            if (c != null) {
                c.cancel("client cancelled", null);
            }
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<DecodeRequest> requestStream) {
            call.set(requestStream);
        }

        @Override
        public void onNext(DecodeResponse r) {
            if (done) {
                return;
            }
            List<Integer> tokens = r.getTokenIdsList();
            int kept = 0;
            while (kept < tokens.size() && !stopTokenIds.contains(tokens.get(kept))) {
                kept++;
            }
            boolean stopToken = kept < tokens.size();
            if (kept > 0) {
                StringBuilder piece = new StringBuilder();
                for (int t : tokens.subList(0, kept)) {
                    piece.append(text.add(t));
                }
                completion += kept;
                long now = System.nanoTime();
                if (!sentAny) {
                    metrics.firstToken((now - startNanos) / 1e9);
                    Span first = Telemetry.spanSince("first token", trace, startNanos);
                    first.setAttribute("kvasir.node", node.id());
                    first.end();
                    stream = Telemetry.spanSince("stream", trace, now);
                } else {
                    metrics.interToken((now - lastTokenNanos) / 1e9);
                }
                lastTokenNanos = now;
                String shown = stops.add(piece.toString());
                sentAny = true;
                GenerateResponse.Builder message = GenerateResponse.newBuilder().addAllTokenIds(tokens.subList(0, kept))
                        .setText(shown).setRequestId(requestId);
                if (r.getLogprobsCount() > 0) {
                    message.addAllLogprobs(r.getLogprobsList().subList(0, Math.min(kept, r.getLogprobsCount())));
                }
                out.onNext(message.build());
            }
            if (stops.stopped() || stopToken) {
                finish("stop", r, Double.NaN); // queue time comes last
                call.get().cancel(stopToken ? "stop token reached" : "stop string reached", null);
                return;
            }
            if (!r.getFinishReason().isEmpty()) {
                finish(r.getFinishReason(), r, r.getQueueSeconds());
            }
        }

        /** {@code r}: the node's last message (usage), or a token message when a stop string ended the stream. */
        private void finish(String reason, DecodeResponse r, double queueSeconds) {
            int promptTokens = r.getPromptTokens();
            int cached = r.getCachedPromptTokens();
            done = true;
            if (!Double.isNaN(queueSeconds)) {
                metrics.queued(queueSeconds);
            }
            int prompt = promptTokens > 0 ? promptTokens : request.getPromptTokensCount();
            metrics.finished(tenant, reason, (System.nanoTime() - startNanos) / 1e9, prompt, cached, completion);
            metrics.promptSources(Math.max(0, prompt - cached), r.getCachedLocalTokens(), r.getCachedHostTokens(),
                    r.getCachedSsdTokens());
            permit.release(completion);
            stream.setAttribute("kvasir.completion_tokens", completion);
            stream.setAttribute("kvasir.finish_reason", reason);
            stream.end();
            String rest = stops.add(text.flush()) + stops.flush();
            out.onNext(GenerateResponse.newBuilder().setText(rest).setFinishReason(reason).setRequestId(requestId)
                    .addAllPromptTokenIds(request.getPromptTokensList())
                    .setUsage(Usage.newBuilder().setPromptTokens(prompt).setCachedPromptTokens(cached)
                            .setCachedLocalTokens(r.getCachedLocalTokens()).setCachedHostTokens(r.getCachedHostTokens())
                            .setCachedSsdTokens(r.getCachedSsdTokens()).setCompletionTokens(completion)).build());
            out.onCompleted();
        }

        @Override
        public void onError(Throwable t) {
            routes.ended(node);
            if (done) {
                return;
            }
            Status s = Status.fromThrowable(t);
            boolean busy = s.getCode() == Status.Code.RESOURCE_EXHAUSTED;
            if (s.getCode() == Status.Code.INVALID_ARGUMENT) {
                finishWithError(s);
            } else if (!sentAny && (busy || s.getCode() == Status.Code.UNAVAILABLE) && tried.size() < routes.size()) {
                start(); // nothing reached the client yet: another node starts the sequence afresh
            } else if (busy && !sentAny) { // every node's queue is full: the client hears when to try again
                io.grpc.Metadata trailers = new io.grpc.Metadata();
                trailers.put(RETRY_AFTER_MS, "1000");
                finishWithError(Status.RESOURCE_EXHAUSTED.withDescription("every decode node is full: "
                        + s.getDescription()), trailers);
            } else {
                finishWithError(Status.UNAVAILABLE.withDescription("decode node failed " + (sentAny ? "mid-stream after "
                        + completion + " tokens; the request can be sent again" : "") + ": " + s.getCode() + " "
                        + s.getDescription()));
            }
        }

        private void finishWithError(Status s) {
            finishWithError(s, new io.grpc.Metadata());
        }

        private void finishWithError(Status s, io.grpc.Metadata trailers) {
            done = true;
            metrics.failed(s.getCode().name());
            permit.release(completion);
            stream.setStatus(StatusCode.ERROR, s.getCode() + ": " + s.getDescription());
            stream.end();
            out.onError(s.asException(trailers));
        }

        @Override
        public void onCompleted() {
            routes.ended(node);
            if (!done) { // the node ended the stream without a finish reason: a clean error, never an open call
                finishWithError(Status.UNAVAILABLE.withDescription("decode node ended the stream after " + completion
                        + " tokens without finishing it; the request can be sent again"));
            }
        }
    }
}
