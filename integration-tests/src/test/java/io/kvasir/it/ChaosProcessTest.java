package io.kvasir.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.proto.v1.GenerationServiceGrpc;

/**
 * Chaos under load, every role its own process: two kv-store members (one backup), a prefill node,
 * two decode nodes and two routers on loopback, the routers sending uncached prompts through the
 * prefill node. Four clients (two per router, moving to the other router when theirs refuses them)
 * stream requests whose greedy answers are known while a decode node is SIGKILLed and started
 * again, then a store member, the prefill node, a router and the other decode node are SIGKILLed.
 * No stream ever carries a wrong token:
 * each completes with the right tokens, or fails before its first token with a retryable status, or
 * after it with UNAVAILABLE, the tokens before the failure right. Afterwards the surviving node's
 * pool holds no reservation (nothing leaked) and the cluster answers as before.
 */
class ChaosProcessTest {
    private static final int PROMPTS = 6;
    private static final int TOKENS = 10;

    @Test
    void killingDecodeNodesUnderLoadNeverCostsAWrongToken(@TempDir Path dir) throws Exception {
        Path model = BuiltinModel.ensure(dir);
        int[][] prompts = new int[PROMPTS][];
        int[][] expected = new int[PROMPTS][];
        try (var backend = new VectorCpuBackend(1); Model local = Model.load(model, backend)) {
            for (int i = 0; i < PROMPTS; i++) {
                prompts[i] = ClusterProcessTest.prompt(20 + 7 * i, 100 + i);
                expected[i] = new Generator(local, local.transformer().kvCacheType("auto"))
                        .generate(prompts[i], TOKENS, SamplingParams.GREEDY, false, t -> { }).tokens();
            }
        }
        int grpc0 = ClusterProcessTest.freePort();
        int grpc1 = ClusterProcessTest.freePort();
        String storeAt = "127.0.0.1:" + grpc0 + ",127.0.0.1:" + grpc1;
        String cluster = "kvasir-chaos-" + UUID.randomUUID();
        String[] decodeArgs = {"decode", "--model", model.toString(), "--kv-store", storeAt, "--grpc-port", "0",
            "--threads", "1", "--metrics-port", "0", "--kv-blocks", "256"};
        var startingStore0 = CompletableFuture.supplyAsync(() -> member(cluster, 0, grpc0));
        var startingStore1 = CompletableFuture.supplyAsync(() -> member(cluster, 1, grpc1));
        var startingPrefill = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kvasir prefill", "prefill",
                "--model", model.toString(), "--kv-store", storeAt, "--grpc-port", "0", "--threads", "1",
                "--metrics-port", "0"));
        var startingA = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kvasir decode", decodeArgs));
        var startingB = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kvasir decode", decodeArgs));
        List<KvasirProcess> started = new ArrayList<>();
        try (KvasirProcess store0 = startingStore0.get(120, TimeUnit.SECONDS)) {
            KvasirProcess store1 = startingStore1.get(120, TimeUnit.SECONDS);
            KvasirProcess prefill = startingPrefill.get(120, TimeUnit.SECONDS);
            KvasirProcess a = startingA.get(120, TimeUnit.SECONDS);
            KvasirProcess b = startingB.get(120, TimeUnit.SECONDS);
            started.addAll(List.of(store1, prefill, a, b));
            String[] routerArgs = {"router", "--model", model.toString(), "--kv-store", storeAt, "--prefill",
                "127.0.0.1:" + prefill.port(), "--prefill-threshold", "16", "--grpc-port", "0", "--http-port", "0"};
            var startingRouter = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kvasir router", routerArgs));
            KvasirProcess router0 = KvasirProcess.start("kvasir router", routerArgs);
            KvasirProcess router1 = startingRouter.get(120, TimeUnit.SECONDS);
            started.addAll(List.of(router0, router1));
            List<ManagedChannel> channels = List.of(
                    NettyChannelBuilder.forAddress("127.0.0.1", router0.port()).usePlaintext().build(),
                    NettyChannelBuilder.forAddress("127.0.0.1", router1.port()).usePlaintext().build());
            try {
                List<GenerationServiceGrpc.GenerationServiceBlockingStub> apis = new ArrayList<>();
                for (ManagedChannel channel : channels) {
                    ClusterProcessTest.awaitServing(channel);
                    apis.add(GenerationServiceGrpc.newBlockingStub(channel));
                }
                ChaosLoad load = new ChaosLoad(apis, prompts, expected, 4);
                Thread.sleep(4000);
                b.kill(); // SIGKILL, streams in flight on it
                Thread.sleep(4000);
                KvasirProcess b2 = KvasirProcess.start("kvasir decode", decodeArgs); // back, under a new address
                started.add(b2);
                Thread.sleep(3000);
                store1.kill(); // its blocks have a backup on the other member
                Thread.sleep(3000);
                prefill.kill(); // the decode nodes prefill instead
                Thread.sleep(3000);
                router0.kill(); // its clients' streams end; they move to the other router
                Thread.sleep(3000);
                a.kill();
                Thread.sleep(4000);
                load.close();
                System.out.println("chaos: 2 decode nodes killed (1 restarted), a store member, the prefill node and "
                        + "a router killed; " + load);
                assertEquals(List.of(), List.copyOf(load.wrong), load.toString());
                assertTrue(load.completed.get() > 0, load.toString());

                // nothing leaked: once the load is gone, the surviving node's pool holds no reservation
                double usage = Double.NaN;
                for (int i = 0; i < 50 && !(usage == 0); i++) {
                    usage = KvasirProcess.sample(b2.scrape(), "vllm:kv_cache_usage_perc");
                    Thread.sleep(200);
                }
                assertEquals(0.0, usage, "KV reserved on the surviving node after the load");
                for (int p = 0; p < PROMPTS; p++) { // and the cluster serves as before
                    assertArrayEquals(expected[p], ClusterProcessTest.call(apis.get(1), prompts[p], TOKENS).tokens());
                }
            } finally {
                channels.forEach(ManagedChannel::shutdownNow);
            }
        } finally {
            for (KvasirProcess p : started) {
                p.kill();
            }
        }
    }

    private static KvasirProcess member(String cluster, int i, int grpcPort) {
        return KvasirProcess.start("kv-store member", "kv-store", "--cluster", cluster, "--name", "kv-" + i, "--port",
                Integer.toString(5961 + i), "--grpc-port", Integer.toString(grpcPort), "--peers",
                "127.0.0.1:5961,127.0.0.1:5962", "--host-budget", "128MiB", "--metrics-port", "0",
                "--replication-port", "0");
    }
}
