package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.kvasir.router.DecodeRoutes;

/** The flags that choose how {@code serve} caches and routes. */
class ServeOptionsTest {
    private static EmbeddedCluster.Options parse(String... argv) {
        List<String> args = new java.util.ArrayList<>(List.of("--model", "/models/m.gguf"));
        args.addAll(List.of(argv));
        return ServeCommand.options(args, new PrintStream(new ByteArrayOutputStream()));
    }

    @Test
    void defaultsAreTheStoreWithKvAwareRouting() {
        EmbeddedCluster.Options o = parse();
        assertEquals(EmbeddedCluster.PrefixCaching.STORE, o.caching().prefix());
        assertEquals(DecodeRoutes.Routing.KV_AWARE, o.caching().routing());
        assertEquals(1L << 30, o.caching().hostBudgetBytes());
        assertNull(o.caching().ssdDir());
        assertEquals(1, o.decodeNodes());
    }

    @Test
    void everyModeOfTheWorkloadBenchCanBeServed() {
        EmbeddedCluster.Options o = parse("--no-kv-store", "--routing", "round-robin", "--decode-nodes", "3");
        assertEquals(EmbeddedCluster.PrefixCaching.LOCAL, o.caching().prefix());
        assertEquals(DecodeRoutes.Routing.ROUND_ROBIN, o.caching().routing());
        assertEquals(3, o.decodeNodes());
        assertEquals(EmbeddedCluster.PrefixCaching.NONE, parse("--no-prefix-cache").caching().prefix());
        EmbeddedCluster.Options tiers = parse("--kv-host-budget", "64m", "--kv-ssd-dir", "/ssd", "--kv-ssd-budget", "2g");
        assertEquals(64L << 20, tiers.caching().hostBudgetBytes());
        assertEquals(Path.of("/ssd"), tiers.caching().ssdDir());
        assertEquals(2L << 30, tiers.caching().ssdBudgetBytes());
    }

    @Test
    void contradictionsAndUnknownValuesAreNamed() {
        var e = assertThrows(Args.UsageException.class, () -> parse("--routing", "random"));
        assertTrue(e.getMessage().contains("--routing") && e.getMessage().contains("random"), e.getMessage());
        e = assertThrows(Args.UsageException.class, () -> parse("--no-prefix-cache", "--no-kv-store"));
        assertTrue(e.getMessage().contains("--no-prefix-cache"), e.getMessage());
        e = assertThrows(Args.UsageException.class, () -> parse("--kv-ssd-budget", "1g"));
        assertTrue(e.getMessage().contains("--kv-ssd-dir"), e.getMessage());
        e = assertThrows(Args.UsageException.class, () -> parse("--decode-nodes", "0"));
        assertTrue(e.getMessage().contains("--decode-nodes"), e.getMessage());
    }

    @Test
    void theRolesTakeTheSameChoicesAndNameWhatIsWrong() {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
        var e = assertThrows(Args.UsageException.class, () -> RoleCommands.router(List.of("--model", "builtin",
                "--decode", "127.0.0.1:1", "--routing", "random"), quiet));
        assertTrue(e.getMessage().contains("--routing") && e.getMessage().contains("random"), e.getMessage());
        e = assertThrows(Args.UsageException.class, () -> RoleCommands.decode(List.of("--model", "builtin",
                "--kv-store", "127.0.0.1:1", "--no-prefix-cache", "--no-kv-store"), quiet));
        assertTrue(e.getMessage().contains("--no-prefix-cache"), e.getMessage());
        e = assertThrows(Args.UsageException.class, () -> RoleCommands.prefill(List.of("--model", "builtin",
                "--kv-store", "127.0.0.1:1", "--kv-load", "layerwise"), quiet));
        assertTrue(e.getMessage().contains("--kv-load") && e.getMessage().contains("layerwise"), e.getMessage());
    }
}
