package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import io.kvasir.engine.BuiltinModel;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.TenantLimits;

/**
 * `serve` through the official `openai` npm client (installed into target/ on first run, from the
 * npm registry): models, completion, chat completion, streamed chat, an error — the client parses
 * and checks every body and chunk.
 */
class OpenAiClientTest {
    static final String OPENAI_VERSION = "7.57.0";
    /** A JSON Schema validator, to check structured output against its schema. */
    static final String AJV_VERSION = "8.17.1";

    @Test
    void theOfficialClientTalksToServe(@TempDir Path cacheDir) throws Exception {
        Path moduleDir = Path.of("target/openai-client").toAbsolutePath();
        assumeTrue(installed(moduleDir), "node/npm or the npm registry unavailable: the openai client was not installed");
        Path script = moduleDir.resolve("client.mjs");
        try (InputStream in = getClass().getResourceAsStream("/openai/client.mjs")) {
            Files.write(script, in.readAllBytes());
        }
        try (EmbeddedCluster cluster = new EmbeddedCluster(new EmbeddedCluster.Options(BuiltinModel.ensure(cacheDir),
                "127.0.0.1", 0, 0, 5898, 8, 512, 16, 2, 256, 1, ApiKeys.open(), TenantLimits.none()))) {
            ProcessBuilder pb = new ProcessBuilder("node", script.toString(), "http://127.0.0.1:" + cluster.httpPort()
                    + "/v1", "kvasir-builtin-v2").redirectErrorStream(true);
            pb.environment().put("OPENAI_MODULE_DIR", moduleDir.toString());
            Process p = pb.start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), output);
            JsonObject seen = JsonParser.parseString(output.lines().reduce((a, b) -> b).orElseThrow()).getAsJsonObject();
            assertEquals("kvasir-builtin-v2", seen.getAsJsonArray("models").get(0).getAsString());
            JsonObject completion = seen.getAsJsonObject("completion");
            assertTrue(List.of("length", "stop").contains(completion.get("finish").getAsString()));
            assertTrue(completion.getAsJsonObject("usage").get("prompt_tokens").getAsInt() > 0);
            JsonObject chat = seen.getAsJsonObject("chat");
            assertEquals("assistant", chat.get("role").getAsString());
            assertEquals(chat.get("content").getAsString(), seen.getAsJsonObject("stream").get("content").getAsString(),
                    "the streamed chat adds up to the plain one");
            assertTrue(seen.getAsJsonObject("stream").get("chunks").getAsInt() > 1);
            assertEquals(404, seen.getAsJsonObject("error").get("status").getAsInt());
            JsonObject fields = run(moduleDir, "fields.mjs", cluster);
            requestFields(fields);
            assertTrue(cluster.placement().prefilled() > 0, "the 300-token prompt went through the prefill node");
            logprobsAreTheEnginesLogSoftmax(fields, BuiltinModel.ensure(cacheDir));
            structuredOutput(run(moduleDir, "structured.mjs", cluster));
        }
    }

    /** What fields.mjs saw: each field's effect, and each bad value's 400. */
    private static void requestFields(JsonObject seen) {
        System.out.println("fields.mjs saw: " + seen);
        List<Integer> greedy = ints(seen, "greedy");
        assertEquals(List.of(300, 300, 300, 300, 300, 300, 300, 300), ints(seen, "forced"), "logit_bias +100 forces its token");
        assertEquals(ints(seen, "forced"), ints(seen, "forcedSampled"), "also when sampling");
        assertTrue(!ints(seen, "forbidden").get(0).equals(greedy.get(0)), "logit_bias -100 forbids the greedy token");
        List<Integer> greedy16 = ints(seen, "greedy16");
        for (String penalty : List.of("presence", "frequency", "repetition")) {
            List<Integer> penalized = ints(seen, penalty);
            assertTrue(!penalized.equals(greedy16), penalty + " penalty changes greedy " + greedy16);
            assertTrue(new java.util.HashSet<>(penalized).size() >= new java.util.HashSet<>(greedy16).size(),
                    penalty + " penalty repeats less: " + penalized + " vs " + greedy16);
        }
        assertEquals(greedy, ints(seen, "minP"), "min_p 1 keeps only the likeliest token");
        JsonObject stopped = seen.getAsJsonObject("stopped");
        int stopAt = greedy.indexOf(greedy.get(3));
        assertEquals(greedy.subList(0, stopAt), ints(stopped, "ids"), "stops before its stop token");
        assertEquals("stop", stopped.get("finish").getAsString());
        JsonObject chat = seen.getAsJsonObject("chat");
        assertEquals("JJJ", chat.get("content").getAsString(), "token 300 is 'J', three of them");
        assertEquals(3, chat.getAsJsonObject("usage").get("completion_tokens").getAsInt());
        assertEquals("length", chat.get("finish").getAsString());
        var chunks = seen.getAsJsonArray("streamUsage");
        JsonObject last = chunks.get(chunks.size() - 1).getAsJsonObject();
        assertEquals(0, last.get("choices").getAsInt(), "the usage chunk carries no choices");
        assertEquals(4, last.getAsJsonObject("usage").get("completion_tokens").getAsInt());
        for (int i = 0; i < chunks.size() - 1; i++) {
            assertTrue(chunks.get(i).getAsJsonObject().get("usage").isJsonNull(), "usage only in the last chunk");
        }
        JsonObject errors = seen.getAsJsonObject("errors");
        var choices = seen.getAsJsonArray("n");
        assertEquals(3, choices.size());
        java.util.Set<List<Integer>> distinct = new java.util.HashSet<>();
        for (int i = 0; i < 3; i++) {
            assertEquals(i, choices.get(i).getAsJsonObject().get("index").getAsInt());
            distinct.add(ints(choices.get(i).getAsJsonObject(), "ids"));
            assertEquals(ints(choices.get(i).getAsJsonObject(), "ids"),
                    ints(seen.getAsJsonArray("nAgain").get(i)), "the same seed, the same choice " + i);
        }
        assertTrue(distinct.size() > 1, "choices under one seed differ: " + distinct);
        for (int i = 0; i < 3; i++) {
            assertEquals(seen.getAsJsonArray("nText").get(i).getAsString(),
                    seen.getAsJsonObject("nStreamed").get(String.valueOf(i)).getAsString(), "streamed choice " + i);
        }
        assertEquals("the model" + seen.get("plain").getAsString(), seen.get("echo").getAsString());
        JsonObject tokenized = seen.getAsJsonObject("tokenize");
        assertEquals(tokenized.getAsJsonArray("tokens").size(), tokenized.get("count").getAsInt());
        assertEquals(8192, tokenized.get("max_model_len").getAsInt());
        assertEquals("hello world", seen.getAsJsonObject("detokenize").get("prompt").getAsString());
        JsonObject bad = seen.getAsJsonObject("detokenizeBad");
        assertEquals(400, bad.get("status").getAsInt());
        assertEquals("tokens", bad.getAsJsonObject("body").getAsJsonObject("error").get("param").getAsString());
        JsonObject responses = seen.getAsJsonObject("responses");
        assertEquals("message", responses.get("type").getAsString());
        assertTrue(List.of("completed", "incomplete").contains(responses.get("status").getAsString()));
        assertEquals(seen.get("responsesChat").getAsString(), responses.get("text").getAsString(),
                "a response is the chat completion it means");
        assertTrue(responses.getAsJsonObject("usage").get("output_tokens").getAsInt() <= 6);
        JsonObject streamedResponse = seen.getAsJsonObject("responsesStream");
        assertEquals(responses.get("text").getAsString(), streamedResponse.get("deltas").getAsString());
        List<String> events = new java.util.ArrayList<>();
        streamedResponse.getAsJsonArray("events").forEach(e -> events.add(e.getAsString()));
        assertEquals(List.of("response.created", "response.in_progress", "response.output_item.added",
                "response.content_part.added"), events.subList(0, 4));
        assertEquals(List.of("response.output_text.done", "response.content_part.done", "response.output_item.done",
                "response.completed"), events.subList(events.size() - 4, events.size()));
        assertTrue(JsonParser.parseString(seen.get("responsesJson").getAsString()).getAsJsonObject().get("a")
                .getAsJsonPrimitive().isNumber(), "text.format json_schema: " + seen.get("responsesJson"));
        var params = java.util.Map.of("min_p", "min_p", "logit_bias", "logit_bias", "logit_bias_token", "logit_bias",
                "presence_penalty", "presence_penalty", "stop_token_ids", "stop_token_ids[0]", "n", "n", "logprobs", "logprobs");
        params.forEach((request, param) -> {
            JsonObject e = errors.getAsJsonObject(request);
            assertEquals(400, e.get("status").getAsInt(), request);
            assertEquals(param, e.get("param").getAsString(), request);
        });
    }

    /**
     * The first token's log-probability and its top 3 as the single-process engine's log-softmax of
     * the same prompt gives them (that token was chosen by the prefill node, its logprobs computed by
     * the decode node); every chosen token's logprob is its top one (greedy); chat's shape too.
     */
    private static void logprobsAreTheEnginesLogSoftmax(JsonObject seen, Path model) {
        int[] prompt = new int[300];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = 3 + (int) ((i * 7919L + 13) % 350);
        }
        float[] logits;
        try (var backend = new io.kvasir.engine.backend.cpu.VectorCpuBackend(1);
                var local = io.kvasir.engine.Model.load(model, backend)) {
            logits = new io.kvasir.engine.Generator(local).generate(prompt, 1,
                    io.kvasir.engine.sampling.SamplingParams.GREEDY, true, t -> { }).lastPromptLogits();
        }
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float l : logits) max = Math.max(max, l);
        for (float l : logits) sum += Math.exp(l - max);
        double logZ = max + Math.log(sum);
        JsonObject lp = seen.getAsJsonObject("logprobs").getAsJsonObject("logprobs");
        int first = seen.getAsJsonObject("logprobs").getAsJsonArray("ids").get(0).getAsInt();
        float got = lp.getAsJsonArray("token_logprobs").get(0).getAsFloat();
        System.out.printf("first token %d: logprob %.6f over the API, %.6f from the engine's logits%n", first, got,
                logits[first] - logZ);
        assertEquals(logits[first] - logZ, got, 1e-4, "the first token's logprob");
        // completions name the top tokens by their text, as JSON object keys: tokens of the same text
        // share one key, and JavaScript reorders number-like keys, so values are compared as a set
        float[] sorted = logits.clone();
        java.util.Arrays.sort(sorted);
        for (var e : lp.getAsJsonArray("top_logprobs").get(0).getAsJsonObject().entrySet()) {
            float v = e.getValue().getAsFloat();
            assertTrue(java.util.stream.IntStream.range(0, 3).anyMatch(r -> Math.abs(sorted[sorted.length - 1 - r] - logZ - v) < 1e-4),
                    "top logprob " + e + " is one of the engine's three likeliest");
        }
        for (int i = 0; i < 4; i++) {
            float best = Float.NEGATIVE_INFINITY;
            for (var e : lp.getAsJsonArray("top_logprobs").get(i).getAsJsonObject().entrySet()) {
                best = Math.max(best, e.getValue().getAsFloat());
            }
            assertEquals(best, lp.getAsJsonArray("token_logprobs").get(i).getAsFloat(), 1e-6, "greedy: token " + i + " is its top");
        }
        var chat = seen.getAsJsonObject("chatLogprobs").getAsJsonArray("content");
        assertEquals(3, chat.size());
        for (var e : chat) {
            JsonObject t = e.getAsJsonObject();
            assertTrue(t.get("logprob").getAsFloat() <= 0);
            assertEquals(2, t.getAsJsonArray("top_logprobs").size());
            assertEquals(t.get("token").getAsString(), t.getAsJsonArray("top_logprobs").get(0).getAsJsonObject()
                    .get("token").getAsString());
        }
    }

    /**
     * 20 seeded json_schema answers of a random-weight model all parse and validate (Ajv), as do
     * json_object answers and guided choices; bad formats and schemas are 400s naming the field.
     */
    private static void structuredOutput(JsonObject seen) {
        System.out.println("structured.mjs saw: " + seen);
        double constrained = 0, free = 0;
        for (var e : seen.getAsJsonArray("schema")) {
            JsonObject answer = e.getAsJsonObject();
            assertTrue(answer.get("parses").getAsBoolean() && answer.get("valid").getAsBoolean(), "does not validate: " + answer);
            assertEquals("stop", answer.get("finish").getAsString(), "the JSON closed and generation ended: " + answer);
        }
        for (int i = 0; i < 5; i++) { // the last five constrained (the schema compiled by then) against five free
            constrained += seen.getAsJsonArray("schema").get(15 + i).getAsJsonObject().get("tokensPerSecond").getAsDouble() / 5;
            free += seen.getAsJsonArray("free").get(i).getAsJsonObject().get("tokensPerSecond").getAsDouble() / 5;
        }
        System.out.printf("json_schema: %.1f tokens/s constrained, %.1f unconstrained (means of 5 requests)%n",
                constrained, free);
        for (var e : seen.getAsJsonArray("object")) {
            assertTrue(e.getAsJsonObject().get("isObject").getAsBoolean(), "json_object: " + e);
        }
        for (var e : seen.getAsJsonArray("choice")) {
            assertTrue(List.of("yes", "no", "maybe so").contains(e.getAsString()), "guided_choice: " + e);
        }
        JsonObject errors = seen.getAsJsonObject("errors");
        for (String name : List.of("unknownType", "badSchema", "unsupported")) {
            JsonObject e = errors.getAsJsonObject(name);
            assertEquals(400, e.get("status").getAsInt(), name);
            assertEquals("response_format", e.get("param").getAsString(), name);
        }
        assertTrue(errors.getAsJsonObject("unsupported").get("message").getAsString().contains("minimum"));
        assertEquals(400, errors.getAsJsonObject("unknownFunction").get("status").getAsInt());
        assertEquals("tool_choice", errors.getAsJsonObject("unknownFunction").get("param").getAsString());
        for (var e : seen.getAsJsonArray("tools")) {
            JsonObject call = e.getAsJsonObject();
            assertEquals("tool_calls", call.get("finish").getAsString(), call.toString());
            assertTrue(call.get("argsParse").getAsBoolean(), call.toString());
            assertTrue(call.get("id").getAsString().startsWith("call_"), call.toString());
            if (call.get("choice").getAsString().equals("named")) {
                assertTrue(call.get("weatherValid").getAsBoolean(), "named: get_weather with valid arguments " + call);
            } else {
                assertTrue(List.of("get_weather", "add").contains(call.get("name").getAsString()), call.toString());
            }
        }
        JsonObject streamedCall = seen.getAsJsonObject("streamedCall");
        assertEquals("add", streamedCall.get("name").getAsString());
        assertEquals("tool_calls", streamedCall.get("finish").getAsString());
        JsonObject arguments = JsonParser.parseString(streamedCall.get("arguments").getAsString()).getAsJsonObject();
        assertTrue(arguments.get("a").getAsJsonPrimitive().isNumber() && arguments.get("b").getAsJsonPrimitive().isNumber());
        assertTrue(errors.getAsJsonObject("badSchema").get("message").getAsString().contains("strng"));
    }

    private static List<Integer> ints(JsonObject o, String field) {
        return ints(o.getAsJsonArray(field));
    }

    private static List<Integer> ints(com.google.gson.JsonElement array) {
        List<Integer> out = new java.util.ArrayList<>();
        array.getAsJsonArray().forEach(e -> out.add(e.getAsInt()));
        return out;
    }

    /** Runs one of the client scripts against the cluster's HTTP API; its last output line, parsed. */
    private JsonObject run(Path moduleDir, String name, EmbeddedCluster cluster) throws Exception {
        Path script = moduleDir.resolve(name);
        try (InputStream in = getClass().getResourceAsStream("/openai/" + name)) {
            Files.write(script, in.readAllBytes());
        }
        ProcessBuilder pb = new ProcessBuilder("node", script.toString(), "http://127.0.0.1:" + cluster.httpPort() + "/v1",
                "kvasir-builtin-v2").redirectErrorStream(true);
        pb.environment().put("OPENAI_MODULE_DIR", moduleDir.toString());
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), output);
        return JsonParser.parseString(output.lines().reduce((a, b) -> b).orElseThrow()).getAsJsonObject();
    }

    /** npm install openai@OPENAI_VERSION into {@code dir} unless there already. */
    static boolean installed(Path dir) {
        if (Files.exists(dir.resolve("node_modules/openai/package.json")) && Files.exists(dir.resolve("node_modules/ajv/package.json"))) {
            return true;
        }
        try {
            Files.createDirectories(dir);
            Process p = new ProcessBuilder("npm", "install", "--no-audit", "--no-fund", "--prefix", dir.toString(),
                    "openai@" + OPENAI_VERSION, "ajv@" + AJV_VERSION).redirectErrorStream(true).start();
            p.getInputStream().transferTo(System.out);
            return p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0
                    && Files.exists(dir.resolve("node_modules/openai/package.json"))
                    && Files.exists(dir.resolve("node_modules/ajv/package.json"));
        } catch (Exception e) {
            System.out.println("cannot install the openai client: " + e);
            return false;
        }
    }
}
