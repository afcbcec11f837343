package io.kvasir.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

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
    void separateMemberProcessesServeAndSurviveAKill() throws Exception {
        String cluster = "kvasir-proc-" + UUID.randomUUID();
        String peers = "127.0.0.1:" + BASE + ",127.0.0.1:" + (BASE + 1) + ",127.0.0.1:" + (BASE + 2);
        List<KvasirProcess> members = new ArrayList<>();
        try {
            List<CompletableFuture<KvasirProcess>> starting = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                int n = i;
                starting.add(CompletableFuture.supplyAsync(() -> start(cluster, n, peers)));
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

                members.get(1).kill(); // SIGKILL
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
            for (KvasirProcess p : members) {
                p.close(); // SIGTERM: a graceful leave
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

    private static KvasirProcess start(String cluster, int i, String peers) {
        return KvasirProcess.start("kv-store member member-" + i, "kv-store", "--cluster", cluster, "--name", "member-" + i,
                "--port", Integer.toString(BASE + i), "--grpc-port", "0", "--peers", peers, "--host-budget", "256MiB", "--metrics-port", "0");
    }
}
