package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.block.KvBlock;
import io.kvasir.kv.client.KvStoreClient;

/** Three `kvasir kv-store` processes on loopback; one is killed with SIGKILL. */
class KvStoreProcessTest {
    private static final int BASE = 5831;

    @Test
    void separateMemberProcessesServeAndSurviveAKill(@TempDir Path dir) throws Exception {
        String cluster = "kvasir-proc-" + UUID.randomUUID();
        String peers = "127.0.0.1:" + BASE + ",127.0.0.1:" + (BASE + 1) + ",127.0.0.1:" + (BASE + 2);
        List<Process> members = new ArrayList<>();
        try {
            List<CompletableFuture<Process>> starting = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                int n = i;
                starting.add(CompletableFuture.supplyAsync(() -> start(cluster, n, peers, dir)));
            }
            for (var s : starting) {
                members.add(s.get(120, TimeUnit.SECONDS));
            }
            BlockLayout layout = BlockLayout.attention(CacheDType.F16, 16, 8, 256); // 128 KiB of values
            int[] tokens = new int[16 * 60];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 3 + (i * 7919 + 13) % 32000;
            }
            List<BlockKey> keys = BlockKeys.chain(BlockKeys.root("proc-model", 1, "t".getBytes(StandardCharsets.UTF_8)),
                    tokens, 16);
            List<byte[]> payloads = new ArrayList<>();
            for (int i = 0; i < keys.size(); i++) {
                payloads.add(BlockCodec.encode(random(layout, i)));
            }
            try (KvStoreClient client = KvStoreClient.connect(cluster, List.of(peers.split(",")))) {
                assertEquals(3, client.members().size());
                client.put("t", keys, payloads);
                assertAllBack(client, keys, payloads, "before the kill");

                members.get(1).destroyForcibly().waitFor(30, TimeUnit.SECONDS); // SIGKILL
                assertAllBack(client, keys, payloads, "after killing a member");
                // and the survivors still take new blocks
                List<BlockKey> more = BlockKeys.chain(BlockKeys.root("proc-model", 1, "u".getBytes(StandardCharsets.UTF_8)),
                        tokens, 16);
                client.put("u", more, payloads);
                for (int i = 0; i < more.size(); i++) {
                    assertEquals(ByteBuffer.wrap(payloads.get(i)), client.get("u", more).get(i));
                }
            }
        } finally {
            for (Process p : members) {
                p.destroy(); // SIGTERM: a graceful leave
            }
            for (Process p : members) {
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
        }
    }

    private static void assertAllBack(KvStoreClient client, List<BlockKey> keys, List<byte[]> payloads, String when)
            throws Exception {
        List<ByteBuffer> back = client.get("t", keys);
        for (int i = 0; i < keys.size(); i++) {
            assertEquals(ByteBuffer.wrap(payloads.get(i)), back.get(i), "block " + i + " " + when);
        }
    }

    private static KvBlock random(BlockLayout layout, int seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] k = new byte[(int) layout.columnBytes(0)];
        byte[] v = new byte[(int) layout.columnBytes(1)];
        r.nextBytes(k);
        r.nextBytes(v);
        return new KvBlock("proc-model", layout, ByteBuffer.wrap(k), ByteBuffer.wrap(v));
    }

    /** `java <this JVM's flags> -cp <test class path> io.kvasir.cli.Kvasir kv-store …`, once it says it serves. */
    private static Process start(String cluster, int i, String peers, Path dir) {
        try {
            List<String> cmd = new ArrayList<>();
            cmd.add(ProcessHandle.current().info().command().orElse("java"));
            for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if (arg.startsWith("--") || arg.startsWith("-D")) {
                    cmd.add(arg);
                }
            }
            cmd.addAll(List.of("-Xmx512m", "-cp", System.getProperty("java.class.path"), Kvasir.class.getName(),
                    "kv-store", "--cluster", cluster, "--name", "member-" + i, "--port", Integer.toString(BASE + i),
                    "--grpc-port", "0", "--peers", peers, "--host-budget", "256MiB"));
            Path log = dir.resolve("member-" + i + ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            StringBuilder seen = new StringBuilder();
            String line;
            while ((line = out.readLine()) != null) {
                seen.append(line).append('\n');
                if (line.startsWith("kv-store member member-" + i)) {
                    // keep draining so the child never blocks on a full pipe
                    Thread.ofVirtual().start(() -> out.lines().forEach(l -> { }));
                    Files.writeString(log, seen);
                    return p;
                }
            }
            throw new IllegalStateException("member " + i + " exited with " + p.waitFor() + ":\n" + seen);
        } catch (Exception e) {
            throw new IllegalStateException("starting member " + i + ": " + e.getMessage(), e);
        }
    }
}
