package io.kvasir.router;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.SamplingParams;
import io.kvasir.router.OpenAiHttpApi.ApiError;

/**
 * One {@code /v1/completions} or {@code /v1/chat/completions} body, read field by field as OpenAI
 * and vLLM read it: the request the router runs, or the {@link ApiError} that says what is wrong
 * (400 naming the field, 404 for another model, 413 past the size limit). Any bytes are one or the
 * other.
 *
 * @param stream   server-sent events rather than one answer
 * @param tokenIds    vLLM's {@code return_token_ids} (completions only)
 * @param streamUsage {@code stream_options.include_usage}: a last chunk with the usage and no choices
 * @param n           choices to generate, 1 to {@link #MAX_CHOICES}
 * @param echo        completions: each choice's text starts with the prompt
 * @param tools       chat: the tools and tool_choice, or null
 */
record OpenAiRequest(GenerateRequest.Builder generate, boolean stream, boolean tokenIds, boolean streamUsage, int n,
        boolean echo, ToolCalls tools) {
    /** Choices one request may ask for: each is a generation of its own (and counts against the tenant's limits). */
    static final int MAX_CHOICES = 16;

    /**
     * @param modelId the model this router serves (a body naming another is a 404)
     * @param chat    the model's chat template (null: chat bodies are refused)
     */
    static OpenAiRequest parse(ByteBuffer bytes, boolean isChat, String modelId, ChatRenderer chat) throws ApiError {
        return parse(jsonBody(bytes), isChat, modelId, chat);
    }

    /** A body already read as JSON (the Responses API's, translated). */
    static OpenAiRequest parse(JsonObject body, boolean isChat, String modelId, ChatRenderer chat) throws ApiError {
        String model = string(body, "model", null);
        if (model == null) {
            throw new ApiError(400, "invalid_request_error", "model", "model is required");
        }
        if (!model.equals(modelId)) {
            throw new ApiError(404, "invalid_request_error", "model", "the model `" + model + "` does not exist",
                    "model_not_found");
        }
        ToolCalls tools = isChat ? ToolCalls.of(body) : null;
        GenerateRequest.Builder g = GenerateRequest.newBuilder()
                .setMaxTokens(integer(body, "max_completion_tokens", integer(body, "max_tokens", 16)))
                .setSampling(SamplingParams.newBuilder()
                        .setTemperature((float) number(body, "temperature", 1.0))
                        .setTopP((float) number(body, "top_p", 1.0))
                        .setTopK(topK(body))
                        .setSeed(body.has("seed") && !body.get("seed").isJsonNull() ? integer(body, "seed", 0) : 0)
                        .setMinP((float) number(body, "min_p", 0))
                        .setPresencePenalty((float) number(body, "presence_penalty", 0))
                        .setFrequencyPenalty((float) number(body, "frequency_penalty", 0))
                        .setRepetitionPenalty((float) positive(body, "repetition_penalty", 1))
                        .putAllLogitBias(logitBias(body)));
        logprobs(body, isChat, g.getSamplingBuilder());
        String structured = structuredOutput(body);
        String forced;
        try {
            forced = tools == null ? null : tools.forcedExpression();
        } catch (IllegalArgumentException e) {
            throw new ApiError(400, "invalid_request_error", "tools", "a function's parameters are not supported: "
                    + e.getMessage());
        }
        if (forced != null && structured != null) {
            throw new ApiError(400, "invalid_request_error", "tool_choice", "a required or named tool_choice already "
                    + "shapes the answer; it cannot take a response_format or guided decoding too");
        }
        if (structured != null || forced != null) {
            g.getSamplingBuilder().setStructuredOutput(forced != null ? forced : structured);
        }
        for (JsonElement t : array(body, "stop_token_ids")) {
            if (!t.isJsonPrimitive() || !t.getAsJsonPrimitive().isNumber() || t.getAsDouble() != Math.rint(t.getAsDouble())) {
                throw new ApiError(400, "invalid_request_error", "stop_token_ids", "stop_token_ids must be an array of "
                        + "token ids, got " + t);
            }
            g.addStopTokenIds(t.getAsInt());
        }
        JsonElement prompt = isChat ? new com.google.gson.JsonPrimitive(renderChat(body, modelId, chat, tools))
                : body.get("prompt");
        if (prompt == null || prompt.isJsonNull()) {
            throw new ApiError(400, "invalid_request_error", "prompt", "prompt is required");
        } else if (prompt.isJsonPrimitive() && prompt.getAsJsonPrimitive().isString()) {
            g.setPrompt(prompt.getAsString());
        } else if (prompt.isJsonArray()) {
            JsonArray a = prompt.getAsJsonArray();
            if (a.size() == 1 && a.get(0).isJsonPrimitive() && a.get(0).getAsJsonPrimitive().isString()) {
                g.setPrompt(a.get(0).getAsString());
            } else {
                for (JsonElement t : a) {
                    if (!t.isJsonPrimitive() || !t.getAsJsonPrimitive().isNumber()) {
                        throw new ApiError(400, "invalid_request_error", "prompt",
                                "prompt must be a string, or an array of token ids (one prompt per request)");
                    }
                    g.addPromptTokens(t.getAsInt());
                }
            }
        } else {
            throw new ApiError(400, "invalid_request_error", "prompt", "prompt must be a string or an array of token ids");
        }
        JsonElement stop = body.get("stop");
        if (stop != null && !stop.isJsonNull()) {
            for (JsonElement s : stop.isJsonArray() ? stop.getAsJsonArray() : java.util.List.of(stop)) {
                if (!s.isJsonPrimitive() || !s.getAsJsonPrimitive().isString()) {
                    throw new ApiError(400, "invalid_request_error", "stop", "stop must be a string or an array of "
                            + "strings, got " + stop);
                }
                g.addStop(s.getAsString());
            }
        }
        boolean stream = body.has("stream") && bool(body, "stream");
        // vLLM's field: completions carry the ids of the tokens they hold
        boolean tokenIds = !isChat && body.has("return_token_ids") && bool(body, "return_token_ids");
        if (body.has("ignore_eos") && bool(body, "ignore_eos")) {
            g.setIgnoreEos(true);
        }
        if (body.has("cache_salt") && !body.get("cache_salt").isJsonNull()) {
            g.setCacheSalt(string(body, "cache_salt", "")); // vLLM's field; the router decides what it may name
        }
        JsonElement options = body.get("stream_options");
        boolean streamUsage = false;
        if (options != null && !options.isJsonNull()) {
            if (!options.isJsonObject()) {
                throw new ApiError(400, "invalid_request_error", "stream_options", "stream_options must be an object, got "
                        + options);
            }
            streamUsage = options.getAsJsonObject().has("include_usage")
                    && bool(options.getAsJsonObject(), "include_usage");
        }
        int n = integer(body, "n", 1);
        if (n < 1 || n > MAX_CHOICES) {
            throw new ApiError(400, "invalid_request_error", "n", "n must be 1 to " + MAX_CHOICES + ", got " + n);
        }
        boolean echo = !isChat && body.has("echo") && !body.get("echo").isJsonNull() && bool(body, "echo");
        return new OpenAiRequest(g, stream, tokenIds, streamUsage, n, echo, tools);
    }

    /**
     * Completions' {@code logprobs: N} (the chosen token's and the N likeliest), chat's
     * {@code logprobs: true} with {@code top_logprobs: N}; N from 0 to 20.
     */
    private static void logprobs(JsonObject body, boolean isChat, SamplingParams.Builder sampling) throws ApiError {
        JsonElement e = body.get("logprobs");
        if (e == null || e.isJsonNull()) {
            if (isChat && body.has("top_logprobs") && !body.get("top_logprobs").isJsonNull()) {
                throw new ApiError(400, "invalid_request_error", "top_logprobs", "top_logprobs needs logprobs: true");
            }
            return;
        }
        int top;
        String field;
        if (isChat) {
            if (!bool(body, "logprobs")) {
                return;
            }
            field = "top_logprobs";
            top = integer(body, field, 0);
        } else {
            field = "logprobs";
            top = integer(body, field, 0);
        }
        if (top < 0 || top > io.kvasir.engine.sampling.SamplingParams.MAX_LOGPROBS) {
            throw new ApiError(400, "invalid_request_error", field, field + " must be 0 to "
                    + io.kvasir.engine.sampling.SamplingParams.MAX_LOGPROBS + ", got " + top);
        }
        sampling.setLogprobs(true).setTopLogprobs(top);
    }

    /**
     * The expression the output must match, from OpenAI's {@code response_format} ({@code json_object},
     * {@code json_schema}) or vLLM's {@code structured_outputs} / {@code guided_json},
     * {@code guided_regex}, {@code guided_choice}; null for free text.
     */
    private static String structuredOutput(JsonObject body) throws ApiError {
        JsonElement format = body.get("response_format");
        if (format != null && !format.isJsonNull()) {
            if (!format.isJsonObject()) {
                throw new ApiError(400, "invalid_request_error", "response_format", "response_format must be an object");
            }
            JsonObject f = format.getAsJsonObject();
            String type = string(f, "type", null);
            switch (type == null ? "" : type) {
                case "text" -> { }
                case "json_object" -> {
                    return JsonSchemaRegex.anyObject();
                }
                case "json_schema" -> {
                    JsonElement js = f.get("json_schema");
                    if (js == null || !js.isJsonObject() || !js.getAsJsonObject().has("schema")) {
                        throw new ApiError(400, "invalid_request_error", "response_format",
                                "response_format json_schema needs json_schema.schema");
                    }
                    return schemaRegex(js.getAsJsonObject().get("schema"), "response_format");
                }
                default -> throw new ApiError(400, "invalid_request_error", "response_format", "response_format type "
                        + (type == null ? "is missing" : "\"" + type + "\" is not text, json_object or json_schema"));
            }
        }
        JsonObject vllm = body.has("structured_outputs") && body.get("structured_outputs").isJsonObject()
                ? body.getAsJsonObject("structured_outputs") : new JsonObject();
        JsonElement json = vllm.has("json") ? vllm.get("json") : body.get("guided_json");
        if (json != null && !json.isJsonNull()) {
            if (json.isJsonPrimitive()) { // vLLM takes the schema as text too
                try {
                    json = JsonParser.parseString(json.getAsString());
                } catch (RuntimeException e) {
                    throw new ApiError(400, "invalid_request_error", "guided_json", "the schema is not JSON: " + e.getMessage());
                }
            }
            return schemaRegex(json, "guided_json");
        }
        JsonElement regex = vllm.has("regex") ? vllm.get("regex") : body.get("guided_regex");
        if (regex != null && !regex.isJsonNull()) {
            if (!regex.isJsonPrimitive()) {
                throw new ApiError(400, "invalid_request_error", "guided_regex", "guided_regex must be a string");
            }
            return regex.getAsString();
        }
        JsonElement choice = vllm.has("choice") ? vllm.get("choice") : body.get("guided_choice");
        if (choice != null && !choice.isJsonNull()) {
            if (!choice.isJsonArray() || choice.getAsJsonArray().isEmpty()) {
                throw new ApiError(400, "invalid_request_error", "guided_choice", "guided_choice must be a non-empty array of strings");
            }
            java.util.List<String> options = new java.util.ArrayList<>();
            for (JsonElement c : choice.getAsJsonArray()) {
                if (!c.isJsonPrimitive() || !c.getAsJsonPrimitive().isString()) {
                    throw new ApiError(400, "invalid_request_error", "guided_choice", "guided_choice must hold strings, got " + c);
                }
                options.add(JsonSchemaRegex.literal(c.getAsString()));
            }
            return "(" + String.join("|", options) + ")";
        }
        return null;
    }

    private static String schemaRegex(JsonElement schema, String field) throws ApiError {
        if (!schema.isJsonObject()) {
            throw new ApiError(400, "invalid_request_error", field, "the schema must be a JSON object, got " + schema);
        }
        try {
            return JsonSchemaRegex.of(schema.getAsJsonObject());
        } catch (IllegalArgumentException | IllegalStateException | ClassCastException | UnsupportedOperationException e) {
            throw new ApiError(400, "invalid_request_error", field, "the schema is not supported: " + e.getMessage());
        }
    }

    /** OpenAI's {@code logit_bias}: token ids (as JSON object keys) to biases. Ranges are checked with the request. */
    private static java.util.Map<Integer, Float> logitBias(JsonObject body) throws ApiError {
        JsonElement e = body.get("logit_bias");
        if (e == null || e.isJsonNull()) {
            return java.util.Map.of();
        }
        if (!e.isJsonObject()) {
            throw new ApiError(400, "invalid_request_error", "logit_bias", "logit_bias must be an object of token ids "
                    + "to numbers, got " + e);
        }
        java.util.Map<Integer, Float> bias = new java.util.HashMap<>();
        for (var entry : e.getAsJsonObject().entrySet()) {
            int token;
            try {
                token = Integer.parseInt(entry.getKey());
            } catch (NumberFormatException bad) {
                throw new ApiError(400, "invalid_request_error", "logit_bias", "logit_bias keys must be token ids, got \""
                        + entry.getKey() + "\"");
            }
            JsonElement v = entry.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
                throw new ApiError(400, "invalid_request_error", "logit_bias", "the bias of token " + token
                        + " must be a number, got " + v);
            }
            bias.put(token, v.getAsFloat());
        }
        return bias;
    }

    /** An array field, empty when absent or null. */
    static JsonArray array(JsonObject o, String field) throws ApiError {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            return new JsonArray();
        }
        if (!e.isJsonArray()) {
            throw new ApiError(400, "invalid_request_error", field, field + " must be an array, got " + e);
        }
        return e.getAsJsonArray();
    }

    /** A number that must be > 0 (vLLM's repetition_penalty). */
    private static double positive(JsonObject o, String field, double fallback) throws ApiError {
        double v = number(o, field, fallback);
        if (!(v > 0)) {
            throw new ApiError(400, "invalid_request_error", field, field + " must be > 0, got " + v);
        }
        return v;
    }

    /** A request body: UTF-8 JSON holding an object, within the size limit; else the 400 or 413 that says so. */
    static JsonObject jsonBody(ByteBuffer bytes) throws ApiError {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(bytes).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new ApiError(400, "invalid_request_error", null, "request body is not valid UTF-8: " + e.getMessage());
        }
        if (text.length() > OpenAiHttpApi.MAX_BODY_BYTES) {
            throw new ApiError(413, "invalid_request_error", null, "request body exceeds " + OpenAiHttpApi.MAX_BODY_BYTES + " bytes");
        }
        try {
            JsonElement parsed = JsonParser.parseString(text);
            if (!parsed.isJsonObject()) {
                throw new IllegalStateException("not a JSON object");
            }
            return parsed.getAsJsonObject();
        } catch (RuntimeException e) {
            throw new ApiError(400, "invalid_request_error", null, "malformed JSON body: " + e.getMessage());
        }
    }

    /** The messages as one prompt, through the model's chat template. */
    static String renderChat(JsonObject body, String modelId, ChatRenderer chat) throws ApiError {
        return renderChat(body, modelId, chat, null);
    }

    /** The messages (with their tool calls and tool results) and the tools, through the chat template. */
    static String renderChat(JsonObject body, String modelId, ChatRenderer chat, ToolCalls tools) throws ApiError {
        if (chat == null) {
            throw new ApiError(400, "invalid_request_error", "messages", "model `" + modelId + "` has no chat template; "
                    + "use /v1/completions");
        }
        JsonElement messages = body.get("messages");
        if (messages == null || !messages.isJsonArray() || messages.getAsJsonArray().isEmpty()) {
            throw new ApiError(400, "invalid_request_error", "messages", "messages must be a non-empty array");
        }
        java.util.List<java.util.Map<String, Object>> list = new java.util.ArrayList<>();
        for (JsonElement m : messages.getAsJsonArray()) {
            if (!m.isJsonObject() || !m.getAsJsonObject().has("role")) {
                throw new ApiError(400, "invalid_request_error", "messages", "each message needs a role and content");
            }
            JsonObject o = m.getAsJsonObject();
            JsonElement content = o.get("content");
            String text;
            if (content == null || content.isJsonNull()) {
                text = "";
            } else if (content.isJsonPrimitive()) {
                text = content.getAsString();
            } else if (content.isJsonArray()) { // [{"type": "text", "text": ...}, …]
                StringBuilder sb = new StringBuilder();
                for (JsonElement part : content.getAsJsonArray()) {
                    if (part.isJsonObject() && "text".equals(string(part.getAsJsonObject(), "type", ""))) {
                        sb.append(string(part.getAsJsonObject(), "text", ""));
                    } else {
                        throw new ApiError(400, "invalid_request_error", "messages", "only text content is supported");
                    }
                }
                text = sb.toString();
            } else {
                throw new ApiError(400, "invalid_request_error", "messages", "content must be a string or text parts");
            }
            java.util.Map<String, Object> message = new java.util.LinkedHashMap<>();
            message.put("role", string(o, "role", "user"));
            message.put("content", text);
            for (String field : java.util.List.of("tool_calls", "tool_call_id", "name")) { // for templates that use them
                if (o.has(field) && !o.get(field).isJsonNull()) {
                    message.put(field, ToolCalls.Json.toJava(o.get(field)));
                }
            }
            list.add(message);
        }
        try {
            return chat.render(list, tools == null ? null : tools.forTemplate());
        } catch (IllegalArgumentException e) {
            throw new ApiError(400, "invalid_request_error", "messages", e.getMessage());
        }
    }

    static String string(JsonObject o, String field, String fallback) throws ApiError {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new ApiError(400, "invalid_request_error", field, field + " must be a string, got " + e);
        }
        return e.getAsString();
    }

    private static int integer(JsonObject o, String field, int fallback) throws ApiError {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || e.getAsDouble() != Math.rint(e.getAsDouble())
                || Math.abs(e.getAsDouble()) > Integer.MAX_VALUE) {
            throw new ApiError(400, "invalid_request_error", field, field + " must be an integer, got " + e);
        }
        return e.getAsInt();
    }

    /** vLLM's top_k: -1 or 0 for no limit, else at least 1. */
    private static int topK(JsonObject body) throws ApiError {
        int k = integer(body, "top_k", 0);
        if (k < -1) {
            throw new ApiError(400, "invalid_request_error", "top_k", "top_k must be -1 or 0 (no limit) or at least 1, got "
                    + k);
        }
        return Math.max(0, k);
    }

    private static double number(JsonObject o, String field, double fallback) throws ApiError {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new ApiError(400, "invalid_request_error", field, field + " must be a number, got " + e);
        }
        return e.getAsDouble();
    }

    private static boolean bool(JsonObject o, String field) throws ApiError {
        JsonElement e = o.get(field);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new ApiError(400, "invalid_request_error", field, field + " must be true or false, got " + e);
        }
        return e.getAsBoolean();
    }
}
