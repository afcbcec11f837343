package io.kvasir.cli;

import io.kvasir.testing.Golden;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The {@code kvasir generate} contract that checks outside the project call. */
class GenerateCommandTest {
    private static final Path GOLDEN = Golden.DIR;
    private static final String MODEL = GOLDEN.resolve("llama-wide.gguf").toString();

    @TempDir
    Path tmp;

    record Run(int exitCode, String out, String err) {}

    static Run run(String... args) {
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        int code = Kvasir.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static JsonObject lastJsonLine(String out) {
        String[] lines = out.strip().split("\n");
        return JsonParser.parseString(lines[lines.length - 1]).getAsJsonObject();
    }

    private static int[] ints(JsonObject o, String key) {
        var a = o.getAsJsonArray(key);
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
        return out;
    }

    /** The default KV cache (f16 for this F32 model) against llama.cpp's default, f16; f32 against f32. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"auto,llama-wide-kvf16.json", "f32,llama-wide.json"})
    void json_withPromptTokensAndLogits_matchesLlamaCpp(String kvCacheDtype, String reference) throws Exception {
        JsonObject ref = JsonParser.parseString(Files.readString(GOLDEN.resolve(reference))).getAsJsonObject();
        StringBuilder prompt = new StringBuilder();
        for (var t : ref.getAsJsonArray("prompt")) prompt.append(prompt.isEmpty() ? "" : ",").append(t.getAsInt());
        Run r = run("generate", "--model", MODEL, "--prompt-tokens", prompt.toString(), "--max-tokens", "20", "--json",
                "--logits", "--kv-cache-dtype", kvCacheDtype);
        assertEquals(0, r.exitCode(), r.err());
        JsonObject o = lastJsonLine(r.out());
        assertArrayEquals(ints(ref, "prompt"), ints(o, "prompt_tokens"));
        assertArrayEquals(ints(ref, "greedy"), ints(o, "tokens"));
        var logits = o.getAsJsonArray("last_prompt_logits");
        var refLogits = ref.getAsJsonArray("lastLogits");
        assertEquals(refLogits.size(), logits.size());
        for (int i = 0; i < logits.size(); i++) {
            assertEquals(refLogits.get(i).getAsDouble(), logits.get(i).getAsDouble(), 1e-3, "logit " + i);
        }
        assertTrue(o.has("text"));
    }

    @Test
    void json_withoutLogitsFlag_hasNoLogits_andTextPromptGetsBos() {
        Run r = run("generate", "--model", MODEL, "--prompt", "the model", "--max-tokens", "4", "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonObject o = lastJsonLine(r.out());
        assertTrue(!o.has("last_prompt_logits"));
        assertEquals(1, ints(o, "prompt_tokens")[0], "BOS first");
        assertEquals(4, ints(o, "tokens").length);
    }

    @Test
    void plainOutput_streamsTheText() {
        Run json = run("generate", "--model", MODEL, "--prompt", "the cache", "--max-tokens", "12", "--json");
        Run text = run("generate", "--model", MODEL, "--prompt", "the cache", "--max-tokens", "12");
        assertEquals(0, text.exitCode(), text.err());
        assertEquals(lastJsonLine(json.out()).get("text").getAsString(), text.out().stripTrailing());
    }

    @ParameterizedTest(name = "seed {0}")
    @CsvSource({"1", "2"})
    void sampling_isReproducibleForASeed(String seed) {
        String[] args = {"generate", "--model", MODEL, "--prompt", "the", "--max-tokens", "16",
                "--temperature", "1.5", "--top-k", "40", "--top-p", "0.95", "--seed", seed, "--json"};
        Run a = run(args), b = run(args);
        assertEquals(0, a.exitCode(), a.err());
        assertArrayEquals(ints(lastJsonLine(a.out()), "tokens"), ints(lastJsonLine(b.out()), "tokens"));
    }

    @Test
    void differentSeeds_differ() {
        Run a = run("generate", "--model", MODEL, "--prompt", "the", "--max-tokens", "16", "--temperature", "2", "--seed", "1", "--json");
        Run b = run("generate", "--model", MODEL, "--prompt", "the", "--max-tokens", "16", "--temperature", "2", "--seed", "2", "--json");
        assertNotEquals(lastJsonLine(a.out()).get("tokens").toString(), lastJsonLine(b.out()).get("tokens").toString());
    }

    @Test
    void deviceCudaWithoutAGpuSaysWhy() {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.kvasir.cuda.CudaDevice.unavailable().isPresent(), "a GPU is here");
        Run r = run("generate", "--model", MODEL, "--prompt", "x", "--device", "cuda");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().startsWith("kvasir: generate: --device cuda: "), r.err());
        assertEquals("", r.out());
    }

    @Test
    void errors_areOneLineWithANonZeroExitCode() throws Exception {
        Path bad = tmp.resolve("bad.gguf");
        Files.writeString(bad, "not a model at all");
        String[][] cases = {
                {"generate", "--model", bad.toString(), "--prompt", "x"},
                {"generate", "--model", tmp.resolve("absent.gguf").toString(), "--prompt", "x"},
                {"generate", "--model", MODEL, "--prompt-tokens", "1,99999"},
                {"generate", "--model", MODEL, "--prompt-tokens", "1,x"},
                {"generate", "--model", MODEL},
                {"generate", "--model", MODEL, "--prompt", "x", "--temperature", "-1"},
                {"generate", "--model", MODEL, "--prompt", "x", "--bogus", "1"},
                {"generate", "--model", MODEL, "--prompt", "x", "--device", "tpu"},
                {"frobnicate"},
        };
        String[] mustMention = {bad.toString(), "absent.gguf", "99999", "\"x\"", "--prompt", "temperature", "--bogus",
            "--device", "frobnicate"};
        for (int i = 0; i < cases.length; i++) {
            Run r = run(cases[i]);
            assertNotEquals(0, r.exitCode(), String.join(" ", cases[i]));
            assertTrue(r.err().startsWith("kvasir: "), r.err());
            assertTrue(r.err().contains(mustMention[i]), r.err() + " should mention " + mustMention[i]);
            assertEquals("", r.out());
        }
    }
}
