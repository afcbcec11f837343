package io.kvasir.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import io.kvasir.router.ApiKeys;
import io.kvasir.router.DecodeRoutes;
import io.kvasir.router.Tenant;
import io.kvasir.router.TenantLimits;

/**
 * One mode's cluster: serve's wiring in this JVM, or with {@code --processes} each role a process,
 * with that mode's caching and routing.
 */
final class WorkloadCluster implements AutoCloseable {
    final EmbeddedCluster embedded; // null with --processes
    final ProcessCluster processes; // null without
    final String[] keys;
    final String warmUpKey = "workload-warm-up";
    final Path ssdDir;
    final Path logDir;
    private long[] start = {0, 0};

    private WorkloadCluster(EmbeddedCluster embedded, ProcessCluster processes, String[] keys, Path ssdDir, Path logDir) {
        this.embedded = embedded;
        this.processes = processes;
        this.keys = keys;
        this.ssdDir = ssdDir;
        this.logDir = logDir;
    }

    static WorkloadCluster start(WorkloadBench.Config c, String mode) throws IOException, InterruptedException {
        String[] keys = new String[c.sizes().tenants()];
        Map<String, Tenant> tenants = new LinkedHashMap<>();
        for (int t = 0; t < keys.length; t++) {
            keys[t] = "workload-key-" + t;
            tenants.put(keys[t], Tenant.of("tenant-" + t));
        }
        tenants.put("workload-warm-up", Tenant.of("warm-up"));
        boolean store = mode.startsWith("store");
        Path work = Files.createDirectories(c.workDir());
        Path ssd = store ? Files.createTempDirectory(work, mode + "-ssd") : null;
        var caching = new EmbeddedCluster.Caching(switch (mode) {
            case "no-cache" -> EmbeddedCluster.PrefixCaching.NONE;
            case "local", "local-rr" -> EmbeddedCluster.PrefixCaching.LOCAL;
            default -> EmbeddedCluster.PrefixCaching.STORE;
        }, mode.endsWith("-rr") ? DecodeRoutes.Routing.ROUND_ROBIN : DecodeRoutes.Routing.KV_AWARE, c.hostBudget(), ssd,
                store ? c.ssdBudget() : 0, c.kvCacheDtype());
        if (c.processes()) {
            Path logs = Files.createTempDirectory(work, mode + "-logs");
            try {
                return new WorkloadCluster(null, new ProcessCluster(processSpec(c, caching, tenants, logs), logs), keys,
                        ssd, logs);
            } catch (IOException | InterruptedException | RuntimeException e) {
                if (ssd != null) {
                    deleteTree(ssd);
                }
                throw e;
            }
        }
        var o = new EmbeddedCluster.Options(c.model(), "127.0.0.1", 0, 0, 5901, c.maxBatch(), c.kvBlocks(), 16,
                c.threads(), c.prefillThreshold(), c.decodeNodes(), new ApiKeys(tenants), TenantLimits.none(), 0,
                caching, c.prefillThreads());
        return new WorkloadCluster(new EmbeddedCluster(o), null, keys, ssd, null);
    }

    /** The same caching and routing as the roles' flags: what EmbeddedCluster wires, one process each. */
    private static ProcessCluster.Spec processSpec(WorkloadBench.Config c, EmbeddedCluster.Caching caching,
            Map<String, Tenant> tenants, Path logs) throws IOException {
        Path apiKeys = logs.resolve("api-keys");
        StringBuilder lines = new StringBuilder();
        tenants.forEach((key, tenant) -> lines.append(key).append(' ').append(tenant.name()).append('\n'));
        Files.writeString(apiKeys, lines);
        String model = c.model().toAbsolutePath().toString();
        List<String> store = new ArrayList<>(List.of("--host-budget", Long.toString(caching.hostBudgetBytes())));
        if (caching.ssdDir() != null) {
            store.addAll(List.of("--ssd-dir", caching.ssdDir().toString(), "--ssd-budget",
                    Long.toString(caching.ssdBudgetBytes())));
        }
        List<String> decode = new ArrayList<>(List.of("--model", model, "--max-batch", Integer.toString(c.maxBatch()),
                "--kv-blocks", Integer.toString(c.kvBlocks()), "--threads", Integer.toString(c.threads()),
                "--kv-cache-dtype", c.kvCacheDtype()));
        switch (caching.prefix()) {
            case NONE -> decode.add("--no-prefix-cache");
            case LOCAL -> decode.add("--no-kv-store");
            case STORE -> { }
        }
        // a prefill node hands its KV over through the store, so only the store modes have one
        List<String> prefill = caching.prefix() != EmbeddedCluster.PrefixCaching.STORE ? null : List.of("--model", model,
                "--kv-blocks", Integer.toString(c.kvBlocks()), "--threads", Integer.toString(c.prefillThreads()),
                "--kv-cache-dtype", c.kvCacheDtype());
        List<String> router = List.of("--model", model, "--api-keys", apiKeys.toString(), "--routing",
                caching.routing().flag(), "--prefill-threshold", Integer.toString(c.prefillThreshold()),
                "--kv-cache-dtype", c.kvCacheDtype());
        return new ProcessCluster.Spec(c.decodeNodes(), decode, prefill, router, store);
    }

    int apiPort() {
        return embedded != null ? embedded.apiPort() : processes.apiPort();
    }

    int httpPort() {
        return embedded != null ? embedded.httpPort() : processes.httpPort();
    }

    void resetCounters() {
        start = bytesMoved();
    }

    /** Block bytes read from and written to the store since {@link #resetCounters}. */
    long[] storeBytes() {
        long[] now = bytesMoved();
        return new long[] {now[0] - start[0], now[1] - start[1]};
    }

    private long[] bytesMoved() {
        if (processes != null) {
            return processes.storeBytes();
        }
        embedded.cache().flush();
        return embedded.cache().bytesMoved();
    }

    void deleteLogs() {
        deleteTree(logDir);
    }

    @Override
    public void close() {
        if (embedded != null) {
            embedded.close();
        } else {
            processes.close();
        }
        if (ssdDir != null) {
            deleteTree(ssdDir);
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temporary directory left behind is not worth failing the run for
        }
    }
}
