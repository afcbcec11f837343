package io.kvasir.router;

import java.nio.charset.StandardCharsets;
import java.util.List;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.TokenLogprobs;

/**
 * The OpenAI objects of one completion or chat completion answer: its choices (a completion's text
 * or a chat message, or their streamed chunks, with log-probabilities and tool calls where asked
 * for), the envelope around them and the usage.
 */
final class OpenAiAnswer {
    private final GenerationGrpcService router;
    private final String modelId, id;
    private final long created;
    private final boolean isChat, tokenIds;
    private final ToolCalls tools;

    /** @param router the token texts logprobs name   @param tools the request's tools, or null */
    OpenAiAnswer(GenerationGrpcService router, String modelId, String id, long created, boolean isChat, boolean tokenIds,
            ToolCalls tools) {
        this.router = router;
        this.modelId = modelId;
        this.tools = tools;
        this.id = id;
        this.created = created;
        this.isChat = isChat;
        this.tokenIds = tokenIds;
    }

    /**
     * Choice {@code index}: {@code text} as a completion's text or a chat message (a delta in a
     * chunk), with the log-probabilities of its tokens when asked for (their text from {@code textStart} on).
     */
    JsonObject choice(int index, String text, String finish, List<Integer> ids, List<TokenLogprobs> logprobs,
            int textStart, boolean chunk, boolean firstChunk) {
        JsonObject choice = new JsonObject();
        choice.addProperty("index", index);
        if (isChat) {
            JsonObject message = new JsonObject();
            if (!chunk || firstChunk) {
                message.addProperty("role", "assistant");
            }
            ToolCalls.Answer calls = tools != null && tools.parses() && finish != null ? tools.parse(text) : null;
            if (calls != null && !calls.calls().isEmpty()) {
                message.addProperty("content", calls.content());
                message.add("tool_calls", ToolCalls.json(calls.calls(), chunk));
                finish = "tool_calls";
            } else {
                message.addProperty("content", text);
            }
            choice.add(chunk ? "delta" : "message", message);
        } else {
            choice.addProperty("text", text);
        }
        choice.add("logprobs", logprobs.isEmpty() ? null : isChat ? chatLogprobs(ids, logprobs)
                : completionLogprobs(ids, logprobs, textStart));
        choice.addProperty("finish_reason", finish);
        if (tokenIds) {
            JsonArray array = new JsonArray();
            ids.forEach(array::add);
            choice.add("token_ids", array);
        }
        return choice;
    }

    /** Completions' shape: parallel arrays of token texts, their log-probabilities, the top ones, text offsets. */
    private JsonObject completionLogprobs(List<Integer> ids, List<TokenLogprobs> logprobs, int textStart) {
        JsonArray tokens = new JsonArray(), values = new JsonArray(), tops = new JsonArray(), offsets = new JsonArray();
        int offset = textStart;
        for (int i = 0; i < logprobs.size(); i++) {
            String token = router.tokenText(ids.get(i));
            tokens.add(token);
            values.add(logprobs.get(i).getLogprob());
            JsonObject top = new JsonObject();
            for (int r = 0; r < logprobs.get(i).getTopTokenIdsCount(); r++) {
                top.addProperty(router.tokenText(logprobs.get(i).getTopTokenIds(r)), logprobs.get(i).getTopLogprobs(r));
            }
            tops.add(top);
            offsets.add(offset);
            offset += token.length();
        }
        JsonObject o = new JsonObject();
        o.add("tokens", tokens);
        o.add("token_logprobs", values);
        o.add("top_logprobs", tops);
        o.add("text_offset", offsets);
        return o;
    }

    /** Chat's shape: per token, its text, log-probability, UTF-8 bytes and the top ones alike. */
    private JsonObject chatLogprobs(List<Integer> ids, List<TokenLogprobs> logprobs) {
        JsonArray content = new JsonArray();
        for (int i = 0; i < logprobs.size(); i++) {
            JsonObject token = tokenLogprob(ids.get(i), logprobs.get(i).getLogprob());
            JsonArray top = new JsonArray();
            for (int r = 0; r < logprobs.get(i).getTopTokenIdsCount(); r++) {
                top.add(tokenLogprob(logprobs.get(i).getTopTokenIds(r), logprobs.get(i).getTopLogprobs(r)));
            }
            token.add("top_logprobs", top);
            content.add(token);
        }
        JsonObject o = new JsonObject();
        o.add("content", content);
        return o;
    }

    private JsonObject tokenLogprob(int id, float logprob) {
        String text = router.tokenText(id);
        JsonObject o = new JsonObject();
        o.addProperty("token", text);
        o.addProperty("logprob", logprob);
        JsonArray bytes = new JsonArray();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xFF);
        }
        o.add("bytes", bytes);
        return o;
    }

    /** id, object type, created, model, the choices, and the usage where given. */
    JsonObject envelope(JsonArray choices, JsonObject usage, boolean chunk) {
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("object", isChat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
        o.addProperty("created", created);
        o.addProperty("model", modelId);
        o.add("choices", choices);
        if (usage != null) {
            o.add("usage", usage);
        }
        return o;
    }

    /** The first choice's usage (its prompt and cache), with the completion tokens of every choice. */
    static JsonObject usage(GenerateResponse first, int completionTokens) {
        JsonObject usage = new JsonObject();
        usage.addProperty("prompt_tokens", first.getUsage().getPromptTokens());
        usage.addProperty("completion_tokens", completionTokens);
        usage.addProperty("total_tokens", first.getUsage().getPromptTokens() + completionTokens);
        JsonObject details = new JsonObject();
        details.addProperty("cached_tokens", first.getUsage().getCachedPromptTokens());
        // Kvasir's: where the cached tokens came from
        details.addProperty("cached_local_tokens", first.getUsage().getCachedLocalTokens());
        details.addProperty("cached_host_tokens", first.getUsage().getCachedHostTokens());
        details.addProperty("cached_ssd_tokens", first.getUsage().getCachedSsdTokens());
        usage.add("prompt_tokens_details", details);
        return usage;
    }
}
