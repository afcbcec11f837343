package io.kvasir.router;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.router.OpenAiHttpApi.ApiError;

/**
 * OpenAI's Responses API ({@code /v1/responses}), text in and out: a request becomes the chat
 * completion it means ({@code instructions} a system message, {@code input} the messages,
 * {@code max_output_tokens}, {@code text.format} the response_format), and the answer a
 * {@code response} object, or when streamed its events ({@code response.created} …
 * {@code response.output_text.delta} … {@code response.completed}).
 */
final class ResponsesApi {
    private ResponsesApi() {
    }

    /** The chat completion body a Responses body asks for. */
    static JsonObject asChat(JsonObject body) throws ApiError {
        JsonObject chat = new JsonObject();
        for (String field : java.util.List.of("model", "temperature", "top_p", "stream", "seed")) {
            if (body.has(field)) {
                chat.add(field, body.get(field));
            }
        }
        if (body.has("max_output_tokens") && !body.get("max_output_tokens").isJsonNull()) {
            chat.add("max_tokens", body.get("max_output_tokens"));
        }
        JsonArray messages = new JsonArray();
        String instructions = OpenAiRequest.string(body, "instructions", null);
        if (instructions != null) {
            messages.add(message("system", instructions));
        }
        JsonElement input = body.get("input");
        if (input == null || input.isJsonNull()) {
            throw new ApiError(400, "invalid_request_error", "input", "input is required");
        } else if (input.isJsonPrimitive() && input.getAsJsonPrimitive().isString()) {
            messages.add(message("user", input.getAsString()));
        } else if (input.isJsonArray()) {
            for (JsonElement item : input.getAsJsonArray()) {
                if (!item.isJsonObject() || !item.getAsJsonObject().has("role")) {
                    throw new ApiError(400, "invalid_request_error", "input", "input items must be messages with a role "
                            + "and content, got " + item);
                }
                JsonObject m = item.getAsJsonObject();
                JsonElement content = m.get("content");
                if (content != null && content.isJsonArray()) { // input_text / output_text parts → text parts
                    JsonArray parts = new JsonArray();
                    for (JsonElement part : content.getAsJsonArray()) {
                        String type = part.isJsonObject() ? OpenAiRequest.string(part.getAsJsonObject(), "type", "") : "";
                        if (!type.equals("input_text") && !type.equals("output_text") && !type.equals("text")) {
                            throw new ApiError(400, "invalid_request_error", "input", "only text content is supported, got "
                                    + part);
                        }
                        JsonObject text = new JsonObject();
                        text.addProperty("type", "text");
                        text.add("text", part.getAsJsonObject().get("text"));
                        parts.add(text);
                    }
                    JsonObject copy = m.deepCopy();
                    copy.add("content", parts);
                    m = copy;
                }
                messages.add(m);
            }
        } else {
            throw new ApiError(400, "invalid_request_error", "input", "input must be a string or an array of messages");
        }
        chat.add("messages", messages);
        if (body.get("text") instanceof JsonObject text && text.get("format") instanceof JsonObject format) {
            JsonObject responseFormat = new JsonObject();
            String type = OpenAiRequest.string(format, "type", "text");
            responseFormat.addProperty("type", type);
            if (type.equals("json_schema")) { // Responses put the schema beside the type
                JsonObject schema = new JsonObject();
                schema.add("schema", format.get("schema"));
                schema.add("name", format.get("name"));
                responseFormat.add("json_schema", schema);
            }
            chat.add("response_format", responseFormat);
        }
        return chat;
    }

    private static JsonObject message(String role, String content) {
        JsonObject m = new JsonObject();
        m.addProperty("role", role);
        m.addProperty("content", content);
        return m;
    }

    /** The {@code response} object: in progress (no output yet) or finished with {@code text}. */
    static JsonObject response(String id, String messageId, long created, String model, String status, String text,
            GenerateResponse last) {
        JsonObject r = new JsonObject();
        r.addProperty("id", id);
        r.addProperty("object", "response");
        r.addProperty("created_at", created);
        r.addProperty("status", status);
        r.addProperty("model", model);
        JsonArray output = new JsonArray();
        if (text != null) {
            output.add(item(messageId, "completed", text));
        }
        r.add("output", output);
        r.add("error", null);
        JsonObject incomplete = null;
        if (status.equals("incomplete")) {
            incomplete = new JsonObject();
            incomplete.addProperty("reason", "max_output_tokens");
        }
        r.add("incomplete_details", incomplete);
        if (last != null && last.hasUsage()) {
            JsonObject usage = new JsonObject();
            int in = last.getUsage().getPromptTokens(), out = last.getUsage().getCompletionTokens();
            usage.addProperty("input_tokens", in);
            JsonObject inDetails = new JsonObject();
            inDetails.addProperty("cached_tokens", last.getUsage().getCachedPromptTokens());
            usage.add("input_tokens_details", inDetails);
            usage.addProperty("output_tokens", out);
            JsonObject outDetails = new JsonObject();
            outDetails.addProperty("reasoning_tokens", 0);
            usage.add("output_tokens_details", outDetails);
            usage.addProperty("total_tokens", in + out);
            r.add("usage", usage);
        } else {
            r.add("usage", null);
        }
        return r;
    }

    /** An assistant message output item holding {@code text} (null: none yet). */
    static JsonObject item(String messageId, String status, String text) {
        JsonObject item = new JsonObject();
        item.addProperty("type", "message");
        item.addProperty("id", messageId);
        item.addProperty("status", status);
        item.addProperty("role", "assistant");
        JsonArray content = new JsonArray();
        if (text != null) {
            content.add(part(text));
        }
        item.add("content", content);
        return item;
    }

    static JsonObject part(String text) {
        JsonObject part = new JsonObject();
        part.addProperty("type", "output_text");
        part.addProperty("text", text);
        part.add("annotations", new JsonArray());
        return part;
    }

    /** "completed", or "incomplete" when the answer ran out of tokens. */
    static String status(GenerateResponse last) {
        return "length".equals(last.getFinishReason()) ? "incomplete" : "completed";
    }

    /**
     * A streamed answer as the Responses API's events, from its {@code first} message on: created,
     * in progress, the item and its part added, a text delta per message, then each of them done.
     */
    static void stream(OutputStream sse, GenerateResponse first, java.util.Iterator<GenerateResponse> it, String id,
            String item, long created, String modelId) {
        GenerateResponse m = first;
        int[] sequence = {0};
        java.util.function.BiConsumer<String, JsonObject> event = (type, data) -> {
            data.addProperty("type", type);
            data.addProperty("sequence_number", sequence[0]++);
            try {
                sse.write(("event: " + type + "\ndata: " + OpenAiHttpApi.GSON.toJson(data) + "\n\n").getBytes(StandardCharsets.UTF_8));
                sse.flush();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        JsonObject started = new JsonObject();
        started.add("response", response(id, item, created, modelId, "in_progress", null, null));
        event.accept("response.created", started);
        event.accept("response.in_progress", started.deepCopy());
        event.accept("response.output_item.added", itemEvent(item(item, "in_progress", null)));
        event.accept("response.content_part.added", partEvent(item, part("")));
        StringBuilder text = new StringBuilder();
        GenerateResponse last = m;
        while (m != null) {
            last = m;
            if (!m.getText().isEmpty()) {
                text.append(m.getText());
                JsonObject delta = partEvent(item, null);
                delta.addProperty("delta", m.getText());
                event.accept("response.output_text.delta", delta);
            }
            m = it.hasNext() ? it.next() : null;
        }
        JsonObject done = partEvent(item, null);
        done.addProperty("text", text.toString());
        event.accept("response.output_text.done", done);
        event.accept("response.content_part.done", partEvent(item, part(text.toString())));
        event.accept("response.output_item.done", itemEvent(item(item, "completed", text.toString())));
        JsonObject completed = new JsonObject();
        completed.add("response", response(id, item, created, modelId, status(last),
                text.toString(), last));
        event.accept("response.completed", completed);
    }

    private static JsonObject itemEvent(JsonObject item) {
        JsonObject o = new JsonObject();
        o.addProperty("output_index", 0);
        o.add("item", item);
        return o;
    }

    /** An event about the one content part of the one output item; {@code part} where the event carries it. */
    private static JsonObject partEvent(String item, JsonObject part) {
        JsonObject o = new JsonObject();
        o.addProperty("item_id", item);
        o.addProperty("output_index", 0);
        o.addProperty("content_index", 0);
        if (part != null) {
            o.add("part", part);
        }
        return o;
    }
}
