package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.google.gson.Gson;

/**
 * {@code bench prefix} on the built-in model: a fresh node really fetches the whole cached prefix
 * from a store member over gRPC, as whole blocks and layer by layer, plaintext and mutual TLS, and
 * answers with the token a node recomputing the prefix gives (the bench fails otherwise).
 */
class PrefixBenchTest {
    @TempDir
    Path dir;

    @Test
    void aFreshNodeFetchesTheWholePrefixAndAnswersAsARecomputingOne() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrefixBench.run(List.of("--model", "builtin", "--cache-dir", dir.toString(), "--prefix-tokens", "200",
                "--new-tokens", "24", "--reps", "1", "--kv-cache-dtype", "int8", "--tls", "--no-namespace", "--json"),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(new ByteArrayOutputStream()));
        Map<?, ?> result = new Gson().fromJson(out.toString(StandardCharsets.UTF_8), Map.class);
        assertEquals(192.0, result.get("cached_tokens"), "12 whole blocks of 16 of the 200 prefix tokens");
        assertEquals("int8", result.get("kv_cache_dtype"));
        assertEquals("loopback", result.get("link"));
        assertTrue((double) result.get("prefix_kv_bytes") > 0);
        for (String key : List.of("ttft_store_ms", "ttft_store_by_layer_ms", "ttft_local_ms", "ttft_recompute_ms")) {
            assertTrue((double) result.get(key) > 0, key + ": " + result);
        }
        // the same prefix fetched from a member that takes mutual TLS only
        assertTrue((double) ((Map<?, ?>) result.get("tls")).get("ttft_store_ms") > 0, result.toString());
    }

    @Test
    void aPrefixTheModelCannotHoldIsAUsageError() {
        var e = assertThrows(Args.UsageException.class, () -> PrefixBench.run(List.of("--model", "builtin",
                "--cache-dir", dir.toString(), "--prefix-tokens", "8192", "--no-namespace"), System.out, System.err));
        assertTrue(e.getMessage().contains("context of 8192 tokens"), e.getMessage());
    }
}
