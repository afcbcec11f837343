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
        }
    }

    /** npm install openai@OPENAI_VERSION into {@code dir} unless there already. */
    static boolean installed(Path dir) {
        if (Files.exists(dir.resolve("node_modules/openai/package.json"))) {
            return true;
        }
        try {
            Files.createDirectories(dir);
            Process p = new ProcessBuilder("npm", "install", "--no-audit", "--no-fund", "--prefix", dir.toString(),
                    "openai@" + OPENAI_VERSION).redirectErrorStream(true).start();
            p.getInputStream().transferTo(System.out);
            return p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0
                    && Files.exists(dir.resolve("node_modules/openai/package.json"));
        } catch (Exception e) {
            System.out.println("cannot install the openai client: " + e);
            return false;
        }
    }
}
