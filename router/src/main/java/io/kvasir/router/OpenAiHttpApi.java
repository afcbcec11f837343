package io.kvasir.router;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLContext;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.TokenLogprobs;
import io.kvasir.telemetry.Exposition;
import io.kvasir.telemetry.Telemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;

/**
 * The OpenAI-compatible HTTP API ({@code /v1/completions}, {@code /v1/chat/completions},
 * {@code /v1/models}, {@code /health}),
 * served by Jetty. Each request is authenticated here, translated into the gRPC {@code Generate}
 * and handed to this router's {@link GenerationGrpcService} in process, so both APIs share one
 * request path (validation, placement, stop strings) without a network hop; gRPC statuses become
 * OpenAI error objects with the matching HTTP status.
 */
public final class OpenAiHttpApi implements AutoCloseable {
    /** The paths whose requests are traced (the ones that generate). */
    private static final java.util.Set<String> GENERATING = java.util.Set.of("/v1/completions", "/v1/chat/completions",
            "/v1/responses");
    /** Largest request body accepted (a 128K-token prompt as text is well under this). */
    static final int MAX_BODY_BYTES = 4 << 20;
    // OpenAI writes nulls ("finish_reason": null in every chunk but the last): so do we
    static final Gson GSON = new com.google.gson.GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    private final Server server;
    private final String modelId;
    private final GenerationGrpcService router;
    private final ChatRenderer chat;
    private final ApiKeys keys;
    private final RouterMetrics metrics;
    private final TokenizerEndpoints tokenizer;

    /**
     * @param router this router's generation service
     * @param chat   the model's chat template, or null (then chat completions are refused)
     * @param tls    HTTPS with this context, or null: plain HTTP
     */
    public OpenAiHttpApi(String host, int port, String modelId, GenerationGrpcService router, ChatRenderer chat,
            ApiKeys keys, RouterMetrics metrics, SSLContext tls) throws Exception {
        this.metrics = metrics;
        this.modelId = modelId;
        this.chat = chat;
        this.keys = keys;
        this.router = router;
        this.tokenizer = new TokenizerEndpoints(router, modelId, chat);
        server = new Server();
        server.addConnector(HttpConnectors.of(server, host, port, tls));
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String path = Request.getPathInContext(request);
                if (!request.getMethod().equals("POST") || !GENERATING.contains(path)) {
                    route(request, response, callback);
                    return true;
                }
                // one trace per generation request, continuing the client's traceparent if it sent one
                Span span = Telemetry.tracer().spanBuilder("POST " + path).setSpanKind(SpanKind.SERVER)
                        .setParent(Telemetry.remoteParent(request.getHeaders()::get))
                        .setAttribute("http.request.method", "POST").setAttribute("url.path", path).startSpan();
                try (Scope ignored = span.makeCurrent()) {
                    route(request, response, callback);
                } finally {
                    span.setAttribute("http.response.status_code", response.getStatus());
                    if (response.getStatus() >= 500) {
                        span.setStatus(StatusCode.ERROR);
                    }
                    span.end();
                }
                return true;
            }
        });
        server.start();
    }

    public int port() {
        return ((ServerConnector) server.getConnectors()[0]).getLocalPort();
    }

    private void route(Request request, Response response, Callback callback) throws IOException {
        String path = Request.getPathInContext(request);
        String method = request.getMethod();
        try {
            Tenant authenticated = null; // the key's tenant; null where the API runs open
            boolean tokenizing = path.equals("/tokenize") || path.equals("/detokenize"); // vLLM's
            if ((path.startsWith("/v1/") || tokenizing) && !keys.isOpen()) {
                String auth = request.getHeaders().get(HttpHeader.AUTHORIZATION);
                authenticated = keys.tenantOfAuthorization(auth);
                if (authenticated == null) {
                    throw new ApiError(401, "invalid_request_error", null, ApiKeys.bearerKey(auth) == null
                            ? "missing API key: send Authorization: Bearer <key>" : "incorrect API key provided",
                            "invalid_api_key");
                }
            }
            if (path.equals("/health") && method.equals("GET")) {
                send(response, callback, 200, "{}");
            } else if (path.equals("/metrics") && method.equals("GET")) {
                Exposition.Body body = Exposition.of(metrics.registry(), request.getHeaders().get(HttpHeader.ACCEPT));
                response.setStatus(200);
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, body.contentType());
                response.write(true, java.nio.ByteBuffer.wrap(body.bytes()), callback);
            } else if (path.equals("/v1/models") && method.equals("GET")) {
                JsonObject model = new JsonObject();
                model.addProperty("id", modelId);
                model.addProperty("object", "model");
                model.addProperty("created", 0);
                model.addProperty("owned_by", "kvasir");
                JsonArray data = new JsonArray();
                data.add(model);
                JsonObject list = new JsonObject();
                list.addProperty("object", "list");
                list.add("data", data);
                send(response, callback, 200, GSON.toJson(list));
            } else if (path.equals("/v1/completions") && method.equals("POST")) {
                generate(request, response, callback, false, authenticated);
            } else if (path.equals("/v1/chat/completions") && method.equals("POST")) {
                generate(request, response, callback, true, authenticated);
            } else if (path.equals("/v1/responses") && method.equals("POST")) {
                respond(request, response, callback, authenticated);
            } else if (tokenizing && method.equals("POST")) {
                if (request.getLength() > MAX_BODY_BYTES) {
                    throw new ApiError(413, "invalid_request_error", null, "request body of " + request.getLength()
                            + " bytes exceeds " + MAX_BODY_BYTES);
                }
                JsonObject body = OpenAiRequest.jsonBody(Content.Source.asByteBuffer(request));
                send(response, callback, 200, GSON.toJson(path.equals("/tokenize") ? tokenizer.tokenize(body)
                        : tokenizer.detokenize(body)));
            } else if (path.startsWith("/v1/") || path.equals("/health") || tokenizing) {
                boolean known = path.equals("/v1/completions") || path.equals("/v1/chat/completions")
                        || path.equals("/v1/responses") || path.equals("/v1/models") || path.equals("/health") || tokenizing;
                throw new ApiError(known ? 405 : 404, "invalid_request_error", null, method + " " + path + " is not served");
            } else {
                throw new ApiError(404, "invalid_request_error", null, "no route " + path);
            }
        } catch (ApiError e) {
            if (e.retryAfterMillis > 0) {
                response.getHeaders().put(HttpHeader.RETRY_AFTER, Long.toString(Math.max(1, e.retryAfterMillis / 1000)));
            }
            send(response, callback, e.status, e.body());
        } catch (RuntimeException | LinkageError e) {
            // a bug, not bad input: still an OpenAI error object, and the server keeps serving
            send(response, callback, 500, new ApiError(500, "server_error", null, "internal error: " + e).body());
        }
    }

    /**
     * A completion, or with {@code isChat} a chat completion (messages rendered by the model's
     * template): {@code n} generations, choice i seeded with the request's seed + i, so the choices
     * differ under one seed and repeat with it.
     */
    private void generate(Request request, Response response, Callback callback, boolean isChat, Tenant authenticated)
            throws IOException, ApiError {
        long declared = request.getLength();
        if (declared > MAX_BODY_BYTES) {
            throw new ApiError(413, "invalid_request_error", null, "request body of " + declared + " bytes exceeds "
                    + MAX_BODY_BYTES);
        }
        OpenAiRequest parsed;
        Span parsing = Telemetry.childSpan(isChat ? "render chat" : "parse request");
        try {
            parsed = OpenAiRequest.parse(Content.Source.asByteBuffer(request), isChat, modelId, chat);
        } finally {
            parsing.end();
        }
        GenerateRequest.Builder g = parsed.generate();
        String id = (isChat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        String echo = parsed.echo() ? echoedPrompt(g) : "";

        Tenant caller = caller(request, authenticated);
        // as the router's prefill deadline: 10 minutes, plus 10 ms a prompt token (a token covers at
        // least one byte of text, so the text's bytes bound its tokens), so long prompts on slow hardware finish
        long promptSize = g.getPromptTokensCount() + g.getPromptBytes().size(); // UTF-8 bytes, no copy
        List<InProcessStream> choices = new ArrayList<>(parsed.n());
        for (int i = 0; i < parsed.n(); i++) {
            GenerateRequest.Builder gi = g.clone();
            gi.getSamplingBuilder().setSeed(g.getSampling().getSeed() + i);
            InProcessStream it = new InProcessStream(TimeUnit.MINUTES.toMillis(10) + 10 * promptSize);
            router.generate(caller, gi.build(), it, it::onCancel);
            choices.add(it);
        }
        OpenAiAnswer answer = new OpenAiAnswer(router, modelId, id, created, isChat, parsed.tokenIds(), parsed.tools());
        boolean buffered = parsed.tools() != null && parsed.tools().parses(); // a call is read from the whole answer
        try {
            if (!parsed.stream()) {
                JsonArray all = new JsonArray();
                GenerateResponse usage = null;
                int completionTokens = 0;
                for (int i = 0; i < choices.size(); i++) {
                    StringBuilder text = new StringBuilder(echo);
                    List<Integer> ids = new ArrayList<>();
                    List<TokenLogprobs> logprobs = new ArrayList<>();
                    GenerateResponse last = null;
                    for (InProcessStream it = choices.get(i); it.hasNext(); ) {
                        last = it.next();
                        text.append(last.getText());
                        ids.addAll(last.getTokenIdsList());
                        logprobs.addAll(last.getLogprobsList());
                    }
                    all.add(answer.choice(i, text.toString(), last.getFinishReason(), ids, logprobs, echo.length(), false,
                            false));
                    usage = usage == null ? last : usage;
                    completionTokens += last.getUsage().getCompletionTokens();
                }
                send(response, callback, 200, GSON.toJson(answer.envelope(all, OpenAiAnswer.usage(usage, completionTokens), false)));
                return;
            }
            // the first message decides the status: errors before it are plain HTTP errors
            GenerateResponse first = choices.get(0).hasNext() ? choices.get(0).next() : null;
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
            response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            try (OutputStream sse = Content.Sink.asOutputStream(response)) {
                GenerateResponse usage = null;
                int completionTokens = 0;
                for (int i = 0; i < choices.size(); i++) { // choice by choice, each chunk naming its index
                    InProcessStream it = choices.get(i);
                    GenerateResponse m = i == 0 ? first : it.hasNext() ? it.next() : null;
                    boolean firstChunk = true;
                    StringBuilder held = new StringBuilder();
                    while (m != null) {
                        boolean lastMessage = !m.getFinishReason().isEmpty();
                        if (buffered && !lastMessage) {
                            held.append(m.getText());
                            m = it.hasNext() ? it.next() : null;
                            continue;
                        }
                        if (buffered) {
                            m = m.toBuilder().setText(held + m.getText()).build();
                        }
                        if (lastMessage) {
                            usage = usage == null ? m : usage;
                            completionTokens += m.getUsage().getCompletionTokens();
                        }
                        String prefix = firstChunk ? echo : "";
                        JsonObject choice = answer.choice(i, prefix + m.getText(), lastMessage ? m.getFinishReason() : null,
                                m.getTokenIdsList(), m.getLogprobsList(), prefix.length(), true, firstChunk);
                        // the usage rides on the last choice's last chunk, or (include_usage) comes alone
                        boolean withUsage = lastMessage && i == choices.size() - 1 && !parsed.streamUsage();
                        write(sse, answer.envelope(single(choice), withUsage ? OpenAiAnswer.usage(usage, completionTokens) : null, true));
                        firstChunk = false;
                        m = it.hasNext() ? it.next() : null;
                    }
                }
                if (parsed.streamUsage() && usage != null) {
                    write(sse, answer.envelope(new JsonArray(), OpenAiAnswer.usage(usage, completionTokens), true));
                }
                sse.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            } catch (StatusRuntimeException e) {
                // mid-stream: the status line is sent; an error event is what OpenAI clients read
                ApiError error = ApiError.from(e.getStatus());
                Content.Sink.write(response, true, "data: " + error.body() + "\n\n", Callback.NOOP);
            }
            callback.succeeded();
        } catch (StatusRuntimeException e) {
            ApiError error = ApiError.from(e.getStatus());
            String retry = e.getTrailers() == null ? null : e.getTrailers().get(GenerationGrpcService.RETRY_AFTER_MS);
            error.retryAfterMillis = retry == null ? 0 : Long.parseLong(retry);
            throw error;
        } finally {
            choices.forEach(InProcessStream::cancel); // a client gone mid-stream (its write failed) stops its generations
        }
    }

    /** The key's tenant; on an open API, the tenant the caller names, checked as the gRPC API checks it. */
    private Tenant caller(Request request, Tenant authenticated) throws ApiError {
        if (authenticated != null) {
            return authenticated;
        }
        try {
            return TenantInterceptor.callerOf(keys, null, request.getHeaders().get("x-kvasir-tenant"));
        } catch (StatusException e) {
            throw ApiError.from(e.getStatus());
        }
    }

    /** OpenAI's Responses API, text in and out ({@link ResponsesApi}), streamed as its events or not. */
    private void respond(Request request, Response response, Callback callback, Tenant authenticated)
            throws IOException, ApiError {
        if (request.getLength() > MAX_BODY_BYTES) {
            throw new ApiError(413, "invalid_request_error", null, "request body of " + request.getLength()
                    + " bytes exceeds " + MAX_BODY_BYTES);
        }
        OpenAiRequest parsed = OpenAiRequest.parse(ResponsesApi.asChat(OpenAiRequest.jsonBody(
                Content.Source.asByteBuffer(request))), true, modelId, chat);
        GenerateRequest g = parsed.generate().build();
        String id = "resp_" + UUID.randomUUID().toString().replace("-", ""), item = "msg_" + UUID.randomUUID().toString()
                .replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        InProcessStream it = new InProcessStream(TimeUnit.MINUTES.toMillis(10) + 10L * g.getPromptBytes().size());
        router.generate(caller(request, authenticated), g, it, it::onCancel);
        try {
            if (!parsed.stream()) {
                StringBuilder text = new StringBuilder();
                GenerateResponse last = null;
                while (it.hasNext()) {
                    last = it.next();
                    text.append(last.getText());
                }
                send(response, callback, 200, GSON.toJson(ResponsesApi.response(id, item, created, modelId,
                        ResponsesApi.status(last), text.toString(), last)));
                return;
            }
            GenerateResponse m = it.hasNext() ? it.next() : null; // errors before it are plain HTTP errors
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
            response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            try (OutputStream sse = Content.Sink.asOutputStream(response)) {
                ResponsesApi.stream(sse, m, it, id, item, created, modelId);
            } catch (StatusRuntimeException e) {
                ApiError error = ApiError.from(e.getStatus());
                Content.Sink.write(response, true, "event: error\ndata: " + error.body() + "\n\n", Callback.NOOP);
            }
            callback.succeeded();
        } catch (StatusRuntimeException e) {
            throw ApiError.from(e.getStatus());
        } finally {
            it.cancel();
        }
    }

    private static void write(OutputStream sse, JsonObject chunk) throws IOException {
        sse.write(("data: " + GSON.toJson(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
        sse.flush();
    }

    private static JsonArray single(JsonObject choice) {
        JsonArray a = new JsonArray();
        a.add(choice);
        return a;
    }

    /** {@code echo}: the prompt's text, as given or as its tokens decode. */
    private String echoedPrompt(GenerateRequest.Builder g) throws ApiError {
        if (!g.getPrompt().isEmpty()) {
            return g.getPrompt();
        }
        try {
            return router.detokenize(g.getPromptTokensList().stream().mapToInt(Integer::intValue).toArray());
        } catch (InvalidRequestException e) {
            throw new ApiError(400, "invalid_request_error", "prompt", e.getMessage());
        }
    }

    private static void send(Response response, Callback callback, int status, String json) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        Content.Sink.write(response, true, json, callback);
    }

    @Override
    public void close() throws Exception {
        server.stop();
    }

    /** An OpenAI error object with its HTTP status. */
    static final class ApiError extends Exception {
        final int status;
        final String type;
        final String param;
        final String code;
        long retryAfterMillis;

        ApiError(int status, String type, String param, String message) {
            this(status, type, param, message, null);
        }

        ApiError(int status, String type, String param, String message, String code) {
            super(message);
            this.status = status;
            this.type = type;
            this.param = param;
            this.code = code;
        }

        /** gRPC statuses as OpenAI's API reports the same conditions. */
        static ApiError from(Status s) {
            String message = s.getDescription() == null ? s.getCode().toString() : s.getDescription();
            return switch (s.getCode()) {
                case INVALID_ARGUMENT -> new ApiError(400, "invalid_request_error", // the field, by its OpenAI name
                        message.contains(":") ? message.substring(0, message.indexOf(':')).replace("sampling.", "") : null,
                        message);
                case UNAUTHENTICATED -> new ApiError(401, "authentication_error", null, message);
                case PERMISSION_DENIED -> new ApiError(403, "permission_error", null, message);
                case NOT_FOUND -> new ApiError(404, "invalid_request_error", null, message);
                case RESOURCE_EXHAUSTED -> new ApiError(429, "rate_limit_error", null, message);
                case UNAVAILABLE, DEADLINE_EXCEEDED -> new ApiError(503, "server_error", null, message);
                default -> new ApiError(500, "server_error", null, message);
            };
        }

        String body() {
            JsonObject e = new JsonObject();
            e.addProperty("message", getMessage());
            e.addProperty("type", type);
            e.addProperty("param", param);
            e.addProperty("code", code);
            JsonObject o = new JsonObject();
            o.add("error", e);
            return GSON.toJson(o);
        }
    }
}
