package io.kvasir.router;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import io.kvasir.router.OpenAiHttpApi.ApiError;

/** vLLM's {@code /tokenize} and {@code /detokenize}, with the router's tokenizer and chat template. */
final class TokenizerEndpoints {
    private final GenerationGrpcService router;
    private final String modelId;
    private final ChatRenderer chat;

    TokenizerEndpoints(GenerationGrpcService router, String modelId, ChatRenderer chat) {
        this.router = router;
        this.modelId = modelId;
        this.chat = chat;
    }

    /**
     * vLLM's {@code /tokenize}: a {@code prompt}, or chat {@code messages} through the template, as
     * the model's tokens (BOS where the model wants it, as a prompt is tokenized for generation).
     */
    JsonObject tokenize(JsonObject body) throws ApiError {
        requireThisModel(body);
        String text;
        if (body.has("messages")) {
            text = OpenAiRequest.renderChat(body, modelId, chat);
        } else {
            text = OpenAiRequest.string(body, "prompt", null);
            if (text == null) {
                throw new ApiError(400, "invalid_request_error", "prompt", "prompt (a string) or messages is required");
            }
        }
        JsonArray tokens = new JsonArray();
        for (int t : router.tokenize(text)) {
            tokens.add(t);
        }
        JsonObject o = new JsonObject();
        o.addProperty("count", tokens.size());
        o.addProperty("max_model_len", router.contextLength());
        o.add("tokens", tokens);
        o.add("token_strs", null);
        return o;
    }

    /** vLLM's {@code /detokenize}: {@code tokens} back to their text, as {@code {"prompt": …}}. */
    JsonObject detokenize(JsonObject body) throws ApiError {
        requireThisModel(body);
        JsonArray array = OpenAiRequest.array(body, "tokens");
        int[] tokens = new int[array.size()];
        for (int i = 0; i < tokens.length; i++) {
            com.google.gson.JsonElement t = array.get(i);
            if (!t.isJsonPrimitive() || !t.getAsJsonPrimitive().isNumber() || t.getAsDouble() != Math.rint(t.getAsDouble())
                    || Math.abs(t.getAsDouble()) > Integer.MAX_VALUE) {
                throw new ApiError(400, "invalid_request_error", "tokens", "tokens[" + i + "] must be a token id, got " + t);
            }
            tokens[i] = t.getAsInt();
        }
        JsonObject o = new JsonObject();
        try {
            o.addProperty("prompt", router.detokenize(tokens));
        } catch (InvalidRequestException e) {
            throw new ApiError(400, "invalid_request_error", "tokens", e.getMessage());
        }
        return o;
    }

    /** A body that names a model must name this one (404 otherwise, as the generation endpoints answer). */
    private void requireThisModel(JsonObject body) throws ApiError {
        String model = OpenAiRequest.string(body, "model", null);
        if (model != null && !model.equals(modelId)) {
            throw new ApiError(404, "invalid_request_error", "model", "the model `" + model + "` does not exist",
                    "model_not_found");
        }
    }
}
