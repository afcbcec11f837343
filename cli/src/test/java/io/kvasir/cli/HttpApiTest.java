package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import io.kvasir.engine.BuiltinModel;

/** The OpenAI-compatible HTTP API of `serve`, over real HTTP on loopback. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpApiTest {
    @TempDir
    static Path cacheDir;

    private EmbeddedCluster cluster;
    private final HttpClient http = HttpClient.newHttpClient();
    private String base;

    @BeforeAll
    void start() {
        Path model = BuiltinModel.ensure(cacheDir);
        cluster = new EmbeddedCluster(new EmbeddedCluster.Options(model, "127.0.0.1", 0, 0, 5891, 8, 512, 16, 2, 256, 1, io.kvasir.router.ApiKeys.open(),
                io.kvasir.router.TenantLimits.none()));
        base = "http://127.0.0.1:" + cluster.httpPort();
    }

    @AfterAll
    void stop() {
        cluster.close();
    }

    HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonObject json(String s) {
        return JsonParser.parseString(s).getAsJsonObject();
    }

    static final String PROMPT = "[1, 17, 42, 99, 120, 7, 3, 250, 61, 18, 33, 4, 90, 210, 11, 8, 77, 150, 5, 44]";

    @Test
    void modelsAndHealth() throws Exception {
        var models = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, models.statusCode());
        JsonObject list = json(models.body());
        assertEquals("list", list.get("object").getAsString());
        assertEquals("kvasir-builtin-v2", list.getAsJsonArray("data").get(0).getAsJsonObject().get("id").getAsString());
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
        // the decode node's heartbeat reaches the router's metrics within a few seconds
        String metrics = "";
        for (int i = 0; i < 50 && !metrics.contains("kvasir_node_free_kv_blocks{node="); i++) {
            Thread.sleep(100);
            metrics = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        }
        assertTrue(metrics.contains("kvasir_node_free_kv_blocks{node=\"127.0.0.1:"), metrics);
        assertTrue(metrics.contains("# TYPE vllm:time_to_first_token_seconds histogram"), metrics);
    }

    @Test
    void completionAndItsStreamAgree() throws Exception {
        String req = "{\"model\": \"kvasir-builtin-v2\", \"prompt\": " + PROMPT + ", \"max_tokens\": 12, \"temperature\": 0";
        var plain = post("/v1/completions", req + "}");
        assertEquals(200, plain.statusCode(), plain.body());
        JsonObject c = json(plain.body());
        assertEquals("text_completion", c.get("object").getAsString());
        JsonObject choice = c.getAsJsonArray("choices").get(0).getAsJsonObject();
        assertEquals("length", choice.get("finish_reason").getAsString());
        JsonObject usage = c.getAsJsonObject("usage");
        assertEquals(20, usage.get("prompt_tokens").getAsInt());
        assertEquals(12, usage.get("completion_tokens").getAsInt());
        assertEquals(32, usage.get("total_tokens").getAsInt());
        assertTrue(usage.getAsJsonObject("prompt_tokens_details").has("cached_tokens"));

        var streamed = post("/v1/completions", req + ", \"stream\": true}");
        assertEquals(200, streamed.statusCode());
        assertTrue(streamed.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        var events = streamed.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", events.getLast());
        String text = events.subList(0, events.size() - 1).stream()
                .map(e -> json(e).getAsJsonArray("choices").get(0).getAsJsonObject().get("text").getAsString())
                .collect(Collectors.joining());
        assertEquals(choice.get("text").getAsString(), text, "the stream adds up to the plain answer");
        JsonObject lastChunk = json(events.get(events.size() - 2));
        assertEquals("length", lastChunk.getAsJsonArray("choices").get(0).getAsJsonObject().get("finish_reason").getAsString());
    }

    @Test
    void chatCompletionsRenderTheModelsTemplate() throws Exception {
        String messages = "[{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": "
                + "[{\"type\": \"text\", \"text\": \"hi there\"}]}]";
        var r = post("/v1/chat/completions", "{\"model\": \"kvasir-builtin-v2\", \"messages\": " + messages
                + ", \"max_tokens\": 6, \"temperature\": 0}");
        assertEquals(200, r.statusCode(), r.body());
        JsonObject c = json(r.body());
        assertEquals("chat.completion", c.get("object").getAsString());
        JsonObject message = c.getAsJsonArray("choices").get(0).getAsJsonObject().getAsJsonObject("message");
        assertEquals("assistant", message.get("role").getAsString());
        // the template's rendering, tokenized: what /v1/completions gets for the same text
        String rendered = "<|system|>\nbe brief\n<|user|>\nhi there\n<|assistant|>\n";
        var same = post("/v1/completions", "{\"model\": \"kvasir-builtin-v2\", \"prompt\": "
                + new com.google.gson.Gson().toJson(rendered) + ", \"max_tokens\": 6, \"temperature\": 0}");
        assertEquals(json(same.body()).getAsJsonArray("choices").get(0).getAsJsonObject().get("text").getAsString(),
                message.get("content").getAsString());
        assertEquals(json(same.body()).getAsJsonObject("usage").get("prompt_tokens").getAsInt(),
                c.getAsJsonObject("usage").get("prompt_tokens").getAsInt());

        var streamed = post("/v1/chat/completions", "{\"model\": \"kvasir-builtin-v2\", \"messages\": " + messages
                + ", \"max_tokens\": 6, \"temperature\": 0, \"stream\": true}");
        var events = streamed.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", events.getLast());
        JsonObject firstChunk = json(events.getFirst());
        assertEquals("chat.completion.chunk", firstChunk.get("object").getAsString());
        assertEquals("assistant", firstChunk.getAsJsonArray("choices").get(0).getAsJsonObject().getAsJsonObject("delta")
                .get("role").getAsString());
        String text = events.subList(0, events.size() - 1).stream().map(e -> json(e).getAsJsonArray("choices").get(0)
                .getAsJsonObject().getAsJsonObject("delta").get("content").getAsString()).collect(Collectors.joining());
        assertEquals(message.get("content").getAsString(), text);

        var bad = post("/v1/chat/completions", "{\"model\": \"kvasir-builtin-v2\", \"messages\": []}");
        assertEquals(400, bad.statusCode());
        assertEquals("messages", json(bad.body()).getAsJsonObject("error").get("param").getAsString());
    }

    @Test
    void badRequestsGetOpenAiErrorsAndTheServerKeepsServing() throws Exception {
        String[][] cases = {
                {"{not json", "400", null},
                {"{\"model\": \"gpt-4\", \"prompt\": \"hi\"}", "404", "model"},
                {"{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"hi\", \"max_tokens\": \"ten\"}", "400", "max_tokens"},
                {"{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"hi\", \"max_tokens\": 0}", "400", "max_tokens"},
                {"{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"hi\", \"temperature\": -1}", "400", "temperature"},
                {"{\"model\": \"kvasir-builtin-v2\"}", "400", "prompt"},
                {"{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"" + "x".repeat(5 << 20) + "\"}", "413", null},
                {"{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"hi\", \"top_k\": -7}", "400", "top_k"},
                {"{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"hi\", \"stop\": [1, 2]}", "400", "stop"},
        };
        for (String[] c : cases) {
            var r = post("/v1/completions", c[0]);
            assertEquals(Integer.parseInt(c[1]), r.statusCode(), c[0].substring(0, Math.min(60, c[0].length())) + " → " + r.body());
            JsonObject error = json(r.body()).getAsJsonObject("error");
            assertTrue(error.has("message") && error.has("type"), r.body());
            if (c[2] != null) {
                assertEquals(c[2], error.get("param").getAsString(), r.body());
            }
        }
        // a body that is not UTF-8 is the client's error too
        byte[] latin1 = "{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"caf\u00e9\"}".getBytes(
                java.nio.charset.StandardCharsets.ISO_8859_1);
        var notUtf8 = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(latin1)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(400, notUtf8.statusCode(), notUtf8.body());
        assertTrue(json(notUtf8.body()).getAsJsonObject("error").get("message").getAsString().contains("UTF-8"),
                notUtf8.body());
        var ok = post("/v1/completions", "{\"model\": \"kvasir-builtin-v2\", \"prompt\": " + PROMPT + ", \"max_tokens\": 2}");
        assertEquals(200, ok.statusCode(), "still serving");
    }

    @Test
    void aClientThatHangsUpMidStreamStopsItsGeneration() throws Exception {
        long before = generatedTokens();
        String body = "{\"model\": \"kvasir-builtin-v2\", \"prompt\": " + PROMPT
                + ", \"max_tokens\": 4000, \"ignore_eos\": true, \"stream\": true}";
        try (var socket = new java.net.Socket("127.0.0.1", cluster.httpPort())) {
            socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream()));
            for (String line = in.readLine(); line != null && !line.startsWith("data: "); line = in.readLine()) {
                // status line and headers
            }
        } // hung up after the first token
        for (int i = 0; i < 600 && cluster.engine().running() > 0; i++) {
            Thread.sleep(50);
        }
        assertEquals(0, cluster.engine().running(), "the sequence left the batch");
        long generated = generatedTokens() - before;
        assertTrue(generated < 4000, "cancelled after " + generated + " of 4000 tokens");
    }

    private long generatedTokens() {
        var registry = new io.prometheus.metrics.model.registry.PrometheusRegistry();
        cluster.engine().registerMetrics(registry, "m");
        return io.kvasir.telemetry.Exposition.text(registry).lines().filter(l -> l.startsWith("vllm:generation_tokens_total"))
                .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }
}
