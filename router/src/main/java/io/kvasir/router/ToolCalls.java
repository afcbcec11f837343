package io.kvasir.router;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import io.kvasir.router.OpenAiHttpApi.ApiError;

/**
 * Chat {@code tools} and {@code tool_choice} as OpenAI and vLLM take them: the tools go to the chat
 * template (as {@code tools}); a call is read back from the answer in the common formats (Hermes /
 * Qwen {@code <tool_call>{"name": …, "arguments": …}</tool_call>}, Llama 3's bare
 * {@code {"name": …, "parameters": …}}); {@code required} and a named function constrain decoding to
 * a call of that function (or any of them), so it is always well formed.
 *
 * @param tools  each tool's {@code function} object (name, description, parameters)
 * @param choice "none", "auto", "required", or the one function's name
 */
record ToolCalls(List<JsonObject> tools, String choice) {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final Pattern HERMES = Pattern.compile("<tool_call>\\s*(\\{.*?})\\s*</tool_call>", Pattern.DOTALL);
    private static final Gson GSON = new Gson();

    /** A parsed call: the function and its arguments as JSON text. */
    record Call(String id, String name, String arguments) {
    }

    /** What an answer says: its text outside the calls (null if none), and the calls. */
    record Answer(String content, List<Call> calls) {
    }

    /** The request's tools, or null when it has none (or tool_choice is "none" and nothing needs them). */
    static ToolCalls of(JsonObject body) throws ApiError {
        JsonElement t = body.get("tools");
        if (t == null || t.isJsonNull()) {
            if (body.has("tool_choice") && !body.get("tool_choice").isJsonNull()
                    && !"none".equals(stringOrNull(body.get("tool_choice")))) {
                throw new ApiError(400, "invalid_request_error", "tool_choice", "tool_choice needs tools");
            }
            return null;
        }
        if (!t.isJsonArray() || t.getAsJsonArray().isEmpty()) {
            throw new ApiError(400, "invalid_request_error", "tools", "tools must be a non-empty array");
        }
        List<JsonObject> tools = new ArrayList<>();
        for (JsonElement e : t.getAsJsonArray()) {
            JsonObject f = e.isJsonObject() && e.getAsJsonObject().get("function") instanceof JsonObject o ? o : null;
            if (f == null || !"function".equals(stringOrNull(e.getAsJsonObject().get("type")))) {
                throw new ApiError(400, "invalid_request_error", "tools", "each tool must be {\"type\": \"function\", "
                        + "\"function\": {…}}, got " + e);
            }
            String name = stringOrNull(f.get("name"));
            if (name == null || !NAME.matcher(name).matches()) {
                throw new ApiError(400, "invalid_request_error", "tools", "a function name must be 1 to 64 of "
                        + "[A-Za-z0-9_-], got " + f.get("name"));
            }
            if (f.has("parameters") && !f.get("parameters").isJsonObject()) {
                throw new ApiError(400, "invalid_request_error", "tools", "the parameters of " + name + " must be a "
                        + "JSON Schema object");
            }
            tools.add(f);
        }
        JsonElement c = body.get("tool_choice");
        String choice;
        if (c == null || c.isJsonNull()) {
            choice = "auto";
        } else if (c.isJsonPrimitive()) {
            choice = c.getAsString();
            if (!List.of("none", "auto", "required").contains(choice)) {
                throw new ApiError(400, "invalid_request_error", "tool_choice", "tool_choice must be none, auto, "
                        + "required or {\"type\": \"function\", \"function\": {\"name\": …}}, got \"" + choice + "\"");
            }
        } else if (c.isJsonObject() && c.getAsJsonObject().get("function") instanceof JsonObject f
                && stringOrNull(f.get("name")) != null) {
            choice = f.get("name").getAsString();
            String named = choice;
            if (tools.stream().noneMatch(tool -> tool.get("name").getAsString().equals(named))) {
                throw new ApiError(400, "invalid_request_error", "tool_choice", "tool_choice names the function \""
                        + choice + "\", which is not among the tools");
            }
        } else {
            throw new ApiError(400, "invalid_request_error", "tool_choice", "tool_choice must be none, auto, required or "
                    + "{\"type\": \"function\", \"function\": {\"name\": …}}, got " + c);
        }
        return new ToolCalls(List.copyOf(tools), choice);
    }

    /** Whether answers are read for calls. */
    boolean parses() {
        return !choice.equals("none");
    }

    /** The tools as the chat template sees them (transformers' {@code tools}: a list of {type, function}). */
    List<Object> forTemplate() {
        List<Object> list = new ArrayList<>();
        for (JsonObject f : tools) {
            JsonObject tool = new JsonObject();
            tool.addProperty("type", "function");
            tool.add("function", f);
            list.add(Json.toJava(tool));
        }
        return list;
    }

    /**
     * With {@code required} or a named function: the expression a call matches, a JSON object with
     * the function's name and arguments valid for its parameters; null when decoding is free.
     */
    String forcedExpression() {
        if (choice.equals("none") || choice.equals("auto")) {
            return null;
        }
        List<String> options = new ArrayList<>();
        for (JsonObject f : tools) {
            String name = f.get("name").getAsString();
            if (choice.equals("required") || choice.equals(name)) {
                JsonObject parameters = f.has("parameters") ? f.getAsJsonObject("parameters") : new JsonObject();
                String arguments = parameters.has("properties") || parameters.has("type") ? JsonSchemaRegex.of(parameters)
                        : JsonSchemaRegex.anyObject();
                options.add("\\{\\\"name\\\": " + JsonSchemaRegex.literal(GSON.toJson(name)) + ", \\\"arguments\\\": "
                        + arguments + "\\}");
            }
        }
        return "(" + String.join("|", options) + ")";
    }

    /** The calls in {@code text}, Hermes-tagged or a bare JSON call; else the text as it is. */
    Answer parse(String text) {
        List<Call> calls = new ArrayList<>();
        Matcher m = HERMES.matcher(text);
        StringBuilder rest = new StringBuilder();
        int last = 0;
        while (m.find()) {
            Call call = call(m.group(1));
            if (call != null) {
                calls.add(call);
                rest.append(text, last, m.start());
                last = m.end();
            }
        }
        if (calls.isEmpty()) {
            Call bare = call(text.strip());
            return bare == null ? new Answer(text, List.of()) : new Answer(null, List.of(bare));
        }
        rest.append(text.substring(last));
        String content = rest.toString().strip();
        return new Answer(content.isEmpty() ? null : content, calls);
    }

    /** {"name": one of the tools, "arguments" or "parameters": an object} as a call; else null. */
    private Call call(String json) {
        try {
            JsonElement e = JsonParser.parseString(json);
            if (!e.isJsonObject()) {
                return null;
            }
            JsonObject o = e.getAsJsonObject();
            String name = stringOrNull(o.get("name"));
            JsonElement arguments = o.has("arguments") ? o.get("arguments") : o.get("parameters");
            if (name == null || arguments == null || tools.stream().noneMatch(t -> t.get("name").getAsString().equals(name))) {
                return null;
            }
            String args = arguments.isJsonPrimitive() ? arguments.getAsString() : GSON.toJson(arguments);
            return new Call("call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24), name, args);
        } catch (RuntimeException notJson) {
            return null;
        }
    }

    /** OpenAI's {@code tool_calls} array of a message (or, with {@code indexed}, of a streamed delta). */
    static JsonArray json(List<Call> calls, boolean indexed) {
        JsonArray array = new JsonArray();
        for (int i = 0; i < calls.size(); i++) {
            JsonObject function = new JsonObject();
            function.addProperty("name", calls.get(i).name());
            function.addProperty("arguments", calls.get(i).arguments());
            JsonObject call = new JsonObject();
            if (indexed) {
                call.addProperty("index", i);
            }
            call.addProperty("id", calls.get(i).id());
            call.addProperty("type", "function");
            call.add("function", function);
            array.add(call);
        }
        return array;
    }

    private static String stringOrNull(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() ? e.getAsString() : null;
    }

    /** Gson trees as the plain maps, lists, strings, numbers and booleans a Jinja template walks. */
    static final class Json {
        private Json() {
        }

        static Object toJava(JsonElement e) {
            if (e == null || e.isJsonNull()) {
                return null;
            }
            if (e.isJsonObject()) {
                java.util.Map<String, Object> map = new java.util.LinkedHashMap<>();
                e.getAsJsonObject().entrySet().forEach(x -> map.put(x.getKey(), toJava(x.getValue())));
                return map;
            }
            if (e.isJsonArray()) {
                List<Object> list = new ArrayList<>();
                e.getAsJsonArray().forEach(x -> list.add(toJava(x)));
                return list;
            }
            var p = e.getAsJsonPrimitive();
            return p.isBoolean() ? p.getAsBoolean() : p.isNumber() ? p.getAsNumber() : p.getAsString();
        }
    }
}
