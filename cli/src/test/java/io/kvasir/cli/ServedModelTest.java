package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import io.kvasir.engine.BuiltinModel;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.TenantLimits;

/**
 * vLLM's {@code --served-model-name} and {@code --chat-template FILE} on serve: the API answers to the
 * served name only, and chat messages render through the given template (seen through /tokenize).
 */
class ServedModelTest {
    private static final String TEMPLATE = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
            + "{% if add_generation_prompt %}[assistant]{% endif %}";
    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    void theServedNameAndTheGivenTemplateAreWhatTheApiUses(@TempDir Path dir) throws Exception {
        Path template = Files.writeString(dir.resolve("chat.jinja"), TEMPLATE);
        ServedModel served = ServedModel.of("serve", Args.parse("serve", List.of("--served-model-name", "team/llm-1",
                "--chat-template", template.toString()), java.util.Set.of("served-model-name", "chat-template"),
                java.util.Set.of()));
        EmbeddedCluster.Options o = new EmbeddedCluster.Options(BuiltinModel.ensure(dir), "127.0.0.1", 0, 0, 5893, 8, 256,
                16, 2, 256, 1, ApiKeys.open(), TenantLimits.none());
        try (EmbeddedCluster cluster = new EmbeddedCluster(new EmbeddedCluster.Options(o.model(), o.host(), o.grpcPort(),
                o.httpPort(), o.kvPort(), o.maxBatch(), o.kvBlocks(), o.blockSize(), o.threads(), o.prefillThreshold(),
                o.decodeNodes(), o.apiKeys(), o.limits(), o.kvQuotaBytes(), o.caching(), o.prefillThreads(), null,
                o.salts(), served))) {
            String base = "http://127.0.0.1:" + cluster.httpPort();
            JsonObject models = json(http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            assertEquals("team/llm-1", models.getAsJsonArray("data").get(0).getAsJsonObject().get("id").getAsString());
            assertEquals(404, post(base + "/v1/completions", "{\"model\": \"kvasir-builtin-v2\", \"prompt\": \"hi\"}")
                    .statusCode(), "the file's name no longer names the model");
            assertEquals(200, post(base + "/v1/completions", "{\"model\": \"team/llm-1\", \"prompt\": \"hi\", "
                    + "\"max_tokens\": 2}").statusCode());
            String messages = "{\"model\": \"team/llm-1\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";
            JsonObject viaTemplate = json(post(base + "/tokenize", messages).body());
            JsonObject expected = json(post(base + "/tokenize", "{\"prompt\": \"[user] hi\\n[assistant]\"}").body());
            assertEquals(expected.get("tokens"), viaTemplate.get("tokens"), "messages rendered by --chat-template");
            assertEquals(200, post(base + "/v1/chat/completions", messages.replace("}]}", "}], \"max_tokens\": 2}"))
                    .statusCode());
        }
    }

    @Test
    void aTemplateThatCannotBeReadOrRenderedIsAUsageErrorNamingIt(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.jinja");
        var e = assertThrows(Args.UsageException.class, () -> ServedModel.of("serve", Args.parse("serve",
                List.of("--chat-template", missing.toString()), java.util.Set.of("chat-template"), java.util.Set.of())));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        Path broken = Files.writeString(dir.resolve("broken.jinja"), "{% for m in %}{{ m }}");
        ServedModel served = ServedModel.of("serve", Args.parse("serve", List.of("--chat-template", broken.toString()),
                java.util.Set.of("chat-template"), java.util.Set.of()));
        try (var backend = new io.kvasir.engine.backend.cpu.VectorCpuBackend(1);
                var model = io.kvasir.engine.Model.load(BuiltinModel.ensure(dir), backend)) {
            var refused = assertThrows(Args.UsageException.class, () -> served.chat(model));
            assertTrue(refused.getMessage().startsWith("--chat-template:"), refused.getMessage());
        }
    }

    private HttpResponse<String> post(String url, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonObject json(String s) {
        return JsonParser.parseString(s).getAsJsonObject();
    }
}
