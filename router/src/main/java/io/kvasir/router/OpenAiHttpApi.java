package io.kvasir.router;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
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

/**
 * The OpenAI-compatible HTTP API ({@code /v1/completions}, {@code /v1/chat/completions},
 * {@code /v1/models}, {@code /health}),
 * served by Jetty. Each request is authenticated here, translated into the gRPC {@code Generate}
 * and handed to this router's {@link GenerationGrpcService} in process, so both APIs share one
 * request path (validation, placement, stop strings) without a network hop; gRPC statuses become
 * OpenAI error objects with the matching HTTP status.
 */
public final class OpenAiHttpApi implements AutoCloseable {
    /** Largest request body accepted (a 128K-token prompt as text is well under this). */
    static final int MAX_BODY_BYTES = 4 << 20;
    // OpenAI writes nulls ("finish_reason": null in every chunk but the last): so do we
    private static final Gson GSON = new com.google.gson.GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    private final Server server;
    private final String modelId;
    private final GenerationGrpcService router;
    private final ChatRenderer chat;
    private final ApiKeys keys;
    private final RouterMetrics metrics;

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
        server = new Server();
        server.addConnector(HttpConnectors.of(server, host, port, tls));
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                route(request, response, callback);
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
            if (path.startsWith("/v1/") && !keys.isOpen()) {
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
                response.setStatus(200);
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain; version=0.0.4");
                Content.Sink.write(response, true, metrics.render(), callback);
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
            } else if (path.startsWith("/v1/") || path.equals("/health")) {
                boolean known = path.equals("/v1/completions") || path.equals("/v1/chat/completions")
                        || path.equals("/v1/models") || path.equals("/health");
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

    /** A completion, or with {@code isChat} a chat completion (messages rendered by the model's template). */
    private void generate(Request request, Response response, Callback callback, boolean isChat, Tenant authenticated)
            throws IOException, ApiError {
        long declared = request.getLength();
        if (declared > MAX_BODY_BYTES) {
            throw new ApiError(413, "invalid_request_error", null, "request body of " + declared + " bytes exceeds "
                    + MAX_BODY_BYTES);
        }
        OpenAiRequest parsed = OpenAiRequest.parse(Content.Source.asByteBuffer(request), isChat, modelId, chat);
        GenerateRequest.Builder g = parsed.generate();
        boolean stream = parsed.stream();
        boolean tokenIds = parsed.tokenIds();
        String id = (isChat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;

        Tenant caller = authenticated;
        if (caller == null) { // open: the tenant the caller names, checked as the gRPC API checks it
            try {
                caller = TenantInterceptor.callerOf(keys, null, request.getHeaders().get("x-kvasir-tenant"));
            } catch (StatusException e) {
                throw ApiError.from(e.getStatus());
            }
        }
        // as the router's prefill deadline: 10 minutes, plus 10 ms a prompt token (a token covers at
        // least one byte of text, so the text's bytes bound its tokens), so long prompts on slow hardware finish
        long promptSize = g.getPromptTokensCount() + g.getPromptBytes().size(); // UTF-8 bytes, no copy
        InProcessStream it = new InProcessStream(TimeUnit.MINUTES.toMillis(10) + 10 * promptSize);
        router.generate(caller, g.build(), it, it::onCancel);
        try {
            if (!stream) {
                StringBuilder out = new StringBuilder();
                JsonArray ids = new JsonArray();
                GenerateResponse last = null;
                while (it.hasNext()) {
                    last = it.next();
                    out.append(last.getText());
                    last.getTokenIdsList().forEach(ids::add);
                }
                JsonObject whole = isChat ? chatCompletion(id, created, out.toString(), last.getFinishReason(), last,
                        false, false) : completion(id, created, out.toString(), last.getFinishReason(), last);
                if (tokenIds) {
                    whole.getAsJsonArray("choices").get(0).getAsJsonObject().add("token_ids", ids);
                }
                send(response, callback, 200, GSON.toJson(whole));
                return;
            }
            // the first message decides the status: errors before it are plain HTTP errors
            GenerateResponse first = it.hasNext() ? it.next() : null;
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
            response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            try (OutputStream sse = Content.Sink.asOutputStream(response)) {
                GenerateResponse m = first, usage = null;
                boolean firstChunk = true;
                while (m != null) {
                    boolean lastMessage = !m.getFinishReason().isEmpty();
                    if (lastMessage) {
                        usage = m;
                    }
                    // with stream_options.include_usage the usage comes alone, in a chunk of its own
                    GenerateResponse withUsage = lastMessage && !parsed.streamUsage() ? m : null;
                    JsonObject chunk = isChat
                            ? chatCompletion(id, created, m.getText(), lastMessage ? m.getFinishReason() : null,
                                    withUsage, true, firstChunk)
                            : completion(id, created, m.getText(), lastMessage ? m.getFinishReason() : null, withUsage);
                    if (tokenIds) {
                        JsonArray ids = new JsonArray();
                        m.getTokenIdsList().forEach(ids::add);
                        chunk.getAsJsonArray("choices").get(0).getAsJsonObject().add("token_ids", ids);
                    }
                    firstChunk = false;
                    sse.write(("data: " + GSON.toJson(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
                    sse.flush();
                    m = it.hasNext() ? it.next() : null;
                }
                if (parsed.streamUsage() && usage != null) {
                    JsonObject chunk = isChat ? chatCompletion(id, created, "", null, usage, true, false)
                            : completion(id, created, "", null, usage);
                    chunk.add("choices", new JsonArray());
                    sse.write(("data: " + GSON.toJson(chunk) + "\n\n").getBytes(StandardCharsets.UTF_8));
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
            it.cancel(); // a client gone mid-stream (its write failed) stops its generation
        }
    }

    private JsonObject chatCompletion(String id, long created, String text, String finish, GenerateResponse last,
            boolean chunk, boolean firstChunk) {
        JsonObject message = new JsonObject();
        if (!chunk || firstChunk) {
            message.addProperty("role", "assistant");
        }
        message.addProperty("content", text);
        JsonObject choice = new JsonObject();
        choice.add(chunk ? "delta" : "message", message);
        return envelope(id, chunk ? "chat.completion.chunk" : "chat.completion", created, choice, finish, last);
    }

    /** The object around one choice: id, object type, created, model, the choice, usage on the last message. */
    private JsonObject envelope(String id, String object, long created, JsonObject choice, String finish,
            GenerateResponse last) {
        choice.addProperty("index", 0);
        choice.add("logprobs", null);
        choice.addProperty("finish_reason", finish);
        JsonArray choices = new JsonArray();
        choices.add(choice);
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("object", object);
        o.addProperty("created", created);
        o.addProperty("model", modelId);
        o.add("choices", choices);
        if (last != null && last.hasUsage()) {
            o.add("usage", usage(last));
        }
        return o;
    }

    private static JsonObject usage(GenerateResponse last) {
        JsonObject usage = new JsonObject();
        usage.addProperty("prompt_tokens", last.getUsage().getPromptTokens());
        usage.addProperty("completion_tokens", last.getUsage().getCompletionTokens());
        usage.addProperty("total_tokens", last.getUsage().getPromptTokens() + last.getUsage().getCompletionTokens());
        JsonObject details = new JsonObject();
        details.addProperty("cached_tokens", last.getUsage().getCachedPromptTokens());
        // Kvasir's: where the cached tokens came from
        details.addProperty("cached_local_tokens", last.getUsage().getCachedLocalTokens());
        details.addProperty("cached_host_tokens", last.getUsage().getCachedHostTokens());
        details.addProperty("cached_ssd_tokens", last.getUsage().getCachedSsdTokens());
        usage.add("prompt_tokens_details", details);
        return usage;
    }

    private JsonObject completion(String id, long created, String text, String finish, GenerateResponse last) {
        JsonObject choice = new JsonObject();
        choice.addProperty("text", text);
        return envelope(id, "text_completion", created, choice, finish, last);
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
