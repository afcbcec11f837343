package io.kvasir.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.lifecycle.Startables;
import org.testcontainers.utility.MountableFile;

import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;
import io.kvasir.kv.block.CacheDType;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.node.BlockKeyChain;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.tls.DevCertificates;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;
import io.kvasir.tls.TlsFiles;

/**
 * The cluster from the container image (scripts/build-image.sh) on one Docker network: two kv-store
 * members, a prefill node, two decode nodes and two routers, each a container, with mutual TLS between
 * them (certificates from {@code kvasir certs}, found through KVASIR_TLS_DIR), used through the
 * public API over TLS from this JVM. Skipped, with the reason, only where no Docker engine answers.
 */
class ContainerClusterTest {
    static final String IMAGE = "kvasir:0.1.0";
    static final String PEERS = "kv-0:5701,kv-1:5701";
    /** The store as routers and nodes know it: the members' gRPC addresses (Hazelcast is the members' alone). */
    private static final String STORE = "kv-0:7401,kv-1:7401";

    @BeforeAll
    static void engineAndImage() throws Exception {
        boolean engine;
        try {
            engine = DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException e) {
            engine = false;
        }
        Assumptions.assumeTrue(engine, "no Docker engine answers here (start dockerd; .ci/run does): "
                + "the container suite is skipped");
        DevCertificates.write(certs, List.of(), java.time.Duration.ofDays(1));
        // rebuilt every run, so the containers run the code under test (the jars of this build)
        Process build = new ProcessBuilder(Path.of("..", "scripts", "build-image.sh").toString())
                .redirectErrorStream(true).start();
        String log = new String(build.getInputStream().readAllBytes());
        assertEquals(0, build.waitFor(), "scripts/build-image.sh failed:\n" + log);
    }

    /** Certificates from {@code kvasir certs}, copied into every container: the cluster runs with mutual TLS. */
    @TempDir
    static Path certs;

    private static GenericContainer<?> role(Network network, String alias, String ready, String... command) {
        GenericContainer<?> c = new GenericContainer<>(IMAGE).withNetwork(network).withNetworkAliases(alias)
                .withEnv("KVASIR_JAVA_OPTS", "-Xmx384m -XX:+UseSerialGC")
                .withEnv("KVASIR_TLS_DIR", "/etc/kvasir-tls");
        try (var files = java.nio.file.Files.list(certs)) {
            // readable by the image's unprivileged user (a test CA: nothing to protect)
            files.forEach(f -> c.withCopyFileToContainer(MountableFile.forHostPath(f, 0644), "/etc/kvasir-tls/"
                    + f.getFileName()));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return c.withCommand(command)
                .waitingFor(Wait.forLogMessage(".*" + ready + ".*\\n", 1).withStartupTimeout(java.time.Duration.ofMinutes(3)));
    }

    private static GenericContainer<?> kvStore(Network network, String name, String hostBudget, String... more) {
        List<String> args = new ArrayList<>(List.of("kv-store", "--name", name, "--host", "auto", "--port", "5701",
                "--grpc-port", "7401", "--metrics-port", "7402", "--peers", PEERS, "--backup-count", "1",
                "--host-budget", hostBudget));
        args.addAll(List.of(more));
        return role(network, name, "kv-store member " + name, args.toArray(String[]::new));
    }

    private static GenericContainer<?> decode(Network network, String name) {
        return role(network, name, "kvasir decode:", "decode", "--model", "builtin", "--kv-store", STORE,
                "--host", "0.0.0.0", "--grpc-port", "7501", "--advertise", "auto:7501", "--threads", "1");
    }

    private static GenericContainer<?> router(Network network, String name) {
        return role(network, name, "kvasir router:", "router", "--model", "builtin", "--kv-store", STORE,
                "--prefill", "prefill:7601", "--prefill-threshold", "16", "--host", "0.0.0.0", "--grpc-port", "50051",
                "--http-port", "8000").withExposedPorts(50051, 8000);
    }

    /**
     * The cluster from the image, exact and cached; then chaos under load: four clients stream
     * prompts with known greedy answers through two routers while the second member's SSD (a 1 MiB
     * tmpfs behind a 64 MiB budget) fills up, and a decode node, that member, the prefill node and a
     * router are SIGKILLed (the decode and prefill nodes started again). No stream carries a wrong
     * token, no block held in host memory (so backed up) is lost, no KV stays reserved, and the
     * cluster answers as before; a decode node killed mid-stream ends the stream cleanly.
     */
    @Test
    void theImageRunsTheClusterExactlyAndSurvivesChaosUnderLoad(@TempDir Path dir) throws Exception {
        try (Network network = Network.newNetwork();
                GenericContainer<?> kv0 = kvStore(network, "kv-0", "128MiB");
                GenericContainer<?> kv1 = kvStore(network, "kv-1", "1MiB", "--ssd-dir", "/ssd", "--ssd-budget", "64MiB")
                        .withTmpFs(Map.of("/ssd", "rw,size=1m,mode=1777"));
                GenericContainer<?> prefill = role(network, "prefill", "kvasir prefill:", "prefill", "--model", "builtin",
                        "--kv-store", STORE, "--host", "0.0.0.0", "--grpc-port", "7601", "--threads", "1");
                GenericContainer<?> decode0 = decode(network, "decode-0").withExposedPorts(7502);
                GenericContainer<?> decode1 = decode(network, "decode-1");
                GenericContainer<?> router0 = router(network, "router-0");
                GenericContainer<?> router1 = router(network, "router-1");
                var backend = new VectorCpuBackend(1);
                Model local = Model.load(BuiltinModel.ensure(dir), backend)) {
            kv0.start(); // the first member up, the second joins it (at once they would merge only later)
            // the rest at once: store clients retry until a member answers, gRPC channels connect on first use
            Startables.deepStart(Stream.of(kv1, prefill, decode0, decode1, router0, router1)).join();
            List<ManagedChannel> channels = List.of(channel(router0), channel(router1));
            try (Tls asRouter = Tls.load(TlsFiles.inDir(certs, Role.ROUTER), Role.ROUTER);
                    KvStoreClient store = KvStoreClient.connect(List.of(ip(kv0, network) + ":7401",
                    ip(kv1, network) + ":7401"), asRouter)) {
                List<GenerationServiceGrpc.GenerationServiceBlockingStub> apis = new ArrayList<>();
                for (ManagedChannel channel : channels) {
                    ClusterProcessTest.awaitServing(channel);
                    apis.add(GenerationServiceGrpc.newBlockingStub(channel));
                }
                var api = apis.get(1);

                // same tokens as the single-process engine; the repeat comes from the cache
                int[] p = ClusterProcessTest.prompt(150, 5);
                var cold = ClusterProcessTest.call(api, p, 16);
                assertArrayEquals(greedy(local, p, 16), cold.tokens(), "the containers' tokens are the single-process engine's");
                var warm = ClusterProcessTest.awaitCached(api, p, 16, 144);
                assertEquals(144, warm.last().getUsage().getCachedPromptTokens());
                assertArrayEquals(cold.tokens(), warm.tokens());

                BlockKeyChain chain = new BlockKeyChain(ModelFingerprint.of(local), local.transformer().kvCacheType("auto"), 16);
                List<BlockKey> keys = new ArrayList<>();
                int[][] prompts = new int[6][];
                int[][] expected = new int[6][];
                for (int i = 0; i < prompts.length; i++) {
                    prompts[i] = ClusterProcessTest.prompt(40 + 20 * i, 10 + i);
                    expected[i] = greedy(local, prompts[i], 8);
                    ClusterProcessTest.call(api, prompts[i], 8);
                    keys.addAll(chain.keys("default", prompts[i], prompts[i].length / 16 * 16));
                }
                awaitAllStored(store, keys);

                ChaosLoad load = new ChaosLoad(apis, prompts, expected, 4);
                load.awaitStreams(4);
                fill(store, 800); // 7 MiB: half on kv-1, whose host tier spills it onto a 1 MiB SSD
                load.awaitStreams(4);
                kill(decode1);
                load.awaitStreams(4);
                restart(decode1);
                load.awaitStreams(4);
                // blocks in host memory have a backup on the other member: none may be lost with kv-1
                List<BlockKey> inHost = new ArrayList<>();
                var tiers = store.lookup("default", keys).getLocationsList();
                for (int i = 0; i < keys.size(); i++) {
                    if (tiers.get(i).getTier() == io.kvasir.proto.kv.v1.Tier.TIER_HOST) {
                        inHost.add(keys.get(i));
                    }
                }
                String kv1Log = kv1.getLogs();
                kill(kv1);
                load.awaitStreams(4);
                kill(prefill);
                load.awaitStreams(4);
                restart(prefill);
                load.awaitStreams(4);
                kill(router0); // its clients' streams end; they move to the other router
                load.awaitStreams(4);
                load.close();
                System.out.println("container chaos: kv-1's SSD filled, decode-1, kv-1, prefill and router-0 "
                        + "SIGKILLed (decode-1 and prefill restarted); " + load + "; " + inHost.size()
                        + " blocks in host memory before kv-1 was killed");
                assertTrue(kv1Log.contains("No space left on device"), "kv-1's SSD never filled up");
                assertEquals(List.of(), List.copyOf(load.wrong), load.toString());
                assertTrue(load.completed.get() > 0, load.toString());
                assertTrue(!inHost.isEmpty(), "no block was in host memory before kv-1 was killed");
                long lost = store.get("default", inHost).stream().filter(b -> b == null).count();
                assertEquals(0, lost, "blocks held in host memory lost with kv-1, of " + inHost.size());

                double usage = Double.NaN; // nothing leaked: once the load is gone, no KV stays reserved
                var asPrometheus = io.kvasir.testing.TrustedCa.sslContext(certs.resolve("ca.crt")); // no certificate of its own
                for (int i = 0; i < 50 && !(usage == 0); i++) {
                    usage = KvasirProcess.sample(KvasirProcess.scrape(decode0.getMappedPort(7502), asPrometheus),
                            "vllm:kv_cache_usage_perc");
                    Thread.sleep(200);
                }
                assertEquals(0.0, usage, "KV reserved on decode-0 after the load");
                for (int i = 0; i < prompts.length; i++) { // and the cluster answers as before
                    assertArrayEquals(expected[i], ClusterProcessTest.call(api, prompts[i], 8).tokens());
                }

                // the decode nodes killed mid-stream: a clean UNAVAILABLE, never a wrong token
                GenerateRequest.Builder longRun = GenerateRequest.newBuilder().setMaxTokens(6000).setIgnoreEos(true);
                Arrays.stream(ClusterProcessTest.prompt(40, 9)).forEach(longRun::addPromptTokens);
                Iterator<GenerateResponse> stream = api.withDeadlineAfter(120, TimeUnit.SECONDS).generate(longRun.build());
                assertTrue(stream.hasNext());
                stream.next();
                kill(decode0);
                kill(decode1);
                ClusterProcessTest.assertEndsCleanlyMidStream(stream);
            } finally {
                channels.forEach(ManagedChannel::shutdownNow);
            }
        }
    }

    private static int[] greedy(Model local, int[] prompt, int tokens) {
        return new Generator(local, local.transformer().kvCacheType("auto"))
                .generate(prompt, tokens, SamplingParams.GREEDY, false, t -> { }).tokens();
    }

    private static ManagedChannel channel(GenericContainer<?> router) throws java.io.IOException {
        return Grpc.newChannelBuilder(router.getHost() + ":" + router.getMappedPort(50051),
                TlsChannelCredentials.newBuilder().trustManager(certs.resolve("ca.crt").toFile()).build()).build();
    }

    private static void kill(GenericContainer<?> c) {
        DockerClientFactory.instance().client().killContainerCmd(c.getContainerId()).exec(); // SIGKILL
    }

    private static void restart(GenericContainer<?> c) {
        DockerClientFactory.instance().client().startContainerCmd(c.getContainerId()).exec();
    }

    /** {@code n} blocks of tenant "filler" (the builtin model's layout), put in batches. */
    private static void fill(KvStoreClient store, int n) throws Exception {
        byte[] block = BlockCodec.encode("filler", BlockLayout.attention(CacheDType.F16, 16, 4, 2, 16), columns -> { });
        BlockKey root = BlockKeys.root("filler", 1, CacheDType.F16, new byte[16]);
        List<BlockKey> keys = BlockKeys.chain(root, new int[16 * n], 16);
        for (int from = 0; from < n; from += 32) {
            List<BlockKey> batch = keys.subList(from, Math.min(n, from + 32));
            store.put("filler", batch, java.util.Collections.nCopies(batch.size(), block));
        }
    }


    private static String ip(GenericContainer<?> c, Network network) {
        return c.getContainerInfo().getNetworkSettings().getNetworks().values().stream()
                .filter(n -> network.getId().equals(n.getNetworkID())).findFirst().orElseThrow().getIpAddress();
    }

    /** Blocks reach the store after a request ends: wait until every one is there. */
    private static void awaitAllStored(KvStoreClient store, List<BlockKey> keys) throws Exception {
        long missing = keys.size();
        for (int i = 0; i < 40 && missing > 0; i++) {
            missing = store.get("default", keys).stream().filter(b -> b == null).count();
            if (missing > 0) {
                Thread.sleep(250);
            }
        }
        assertEquals(0, missing, "blocks never reached the store, of " + keys.size());
    }
}
