package io.kvasir.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
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
import io.kvasir.kv.block.BlockKey;
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
 * members, a prefill node, a decode node and a router, each a container, with mutual TLS between
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

    private static GenericContainer<?> kvStore(Network network, String name) {
        return role(network, name, "kv-store member " + name, "kv-store", "--name", name, "--host", "auto",
                "--port", "5701", "--grpc-port", "7401", "--metrics-port", "7402", "--peers", PEERS,
                "--backup-count", "1", "--host-budget", "128MiB");
    }

    @Test
    void theImageRunsTheClusterExactlyAndSurvivesLosingAStoreMemberAndADecodeNode(@TempDir Path dir) throws Exception {
        try (Network network = Network.newNetwork();
                GenericContainer<?> kv0 = kvStore(network, "kv-0");
                GenericContainer<?> kv1 = kvStore(network, "kv-1");
                GenericContainer<?> prefill = role(network, "prefill", "kvasir prefill:", "prefill", "--model", "builtin",
                        "--kv-store", STORE, "--host", "0.0.0.0", "--grpc-port", "7601", "--threads", "1");
                GenericContainer<?> decode = role(network, "decode", "kvasir decode:", "decode", "--model", "builtin",
                        "--kv-store", STORE, "--host", "0.0.0.0", "--grpc-port", "7501", "--advertise", "auto:7501",
                        "--threads", "1");
                GenericContainer<?> router = role(network, "router", "kvasir router:", "router", "--model", "builtin",
                        "--kv-store", STORE, "--prefill", "prefill:7601", "--prefill-threshold", "64", "--host", "0.0.0.0",
                        "--grpc-port", "50051", "--http-port", "8000").withExposedPorts(50051, 8000);
                var backend = new VectorCpuBackend(1);
                Model local = Model.load(BuiltinModel.ensure(dir), backend)) {
            kv0.start(); // the first member up, the second joins it (at once they would merge only later)
            // the rest at once: store clients retry until a member answers, gRPC channels connect on first use
            Startables.deepStart(Stream.of(kv1, prefill, decode, router)).join();
            ManagedChannel channel = Grpc.newChannelBuilder(router.getHost() + ":" + router.getMappedPort(50051),
                    TlsChannelCredentials.newBuilder().trustManager(certs.resolve("ca.crt").toFile()).build()).build();
            try (Tls asRouter = Tls.load(TlsFiles.inDir(certs, Role.ROUTER), Role.ROUTER);
                    KvStoreClient store = KvStoreClient.connect(List.of(ip(kv0, network) + ":7401",
                    ip(kv1, network) + ":7401"), asRouter)) {
                ClusterProcessTest.awaitServing(channel);
                var api = GenerationServiceGrpc.newBlockingStub(channel);

                // same tokens as the single-process engine; the repeat comes from the cache
                int[] p = ClusterProcessTest.prompt(150, 5);
                var cold = ClusterProcessTest.call(api, p, 16);
                assertArrayEquals(new Generator(local, local.transformer().kvCacheType("auto")).generate(p, 16, SamplingParams.GREEDY, false, t -> { }).tokens(),
                        cold.tokens(), "the containers' tokens are the single-process engine's");
                var warm = ClusterProcessTest.awaitCached(api, p, 16, 144);
                assertEquals(144, warm.last().getUsage().getCachedPromptTokens());
                assertArrayEquals(cold.tokens(), warm.tokens());

                // a kv-store container stopped under load loses no block
                BlockKeyChain chain = new BlockKeyChain(ModelFingerprint.of(local), local.transformer().kvCacheType("auto"), 16);
                List<BlockKey> keys = new ArrayList<>();
                for (int s = 10; s < 16; s++) {
                    int[] prompt = ClusterProcessTest.prompt(150, s);
                    ClusterProcessTest.call(api, prompt, 4);
                    keys.addAll(chain.keys("default", prompt, 144));
                }
                awaitAllStored(store, keys);
                AtomicBoolean loading = new AtomicBoolean(true);
                AtomicInteger served = new AtomicInteger();
                List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
                var load = CompletableFuture.runAsync(() -> {
                    for (int s = 100; loading.get(); s++) {
                        try {
                            ClusterProcessTest.call(api, ClusterProcessTest.prompt(90, s), 4);
                            store.get("default", keys);
                            served.incrementAndGet();
                        } catch (RuntimeException | io.kvasir.kv.client.KvStoreException e) {
                            failures.add(e);
                        }
                    }
                });
                awaitServed(served, 2); // the load runs before the stop, and goes on after it
                DockerClientFactory.instance().client().stopContainerCmd(kv1.getContainerId()).withTimeout(60).exec();
                awaitServed(served, served.get() + 2);
                loading.set(false);
                load.get(3, TimeUnit.MINUTES);
                assertTrue(failures.isEmpty(), "requests failed while a member stopped: " + failures);
                assertTrue(served.get() >= 2, "the load ran: " + served.get());
                List<ByteBuffer> after = store.get("default", keys);
                long missing = after.stream().filter(b -> b == null).count();
                assertEquals(0, missing, "blocks lost with the stopped member, of " + keys.size());

                // the decode container killed mid-stream: a clean UNAVAILABLE, never a wrong token
                GenerateRequest.Builder longRun = GenerateRequest.newBuilder().setMaxTokens(6000).setIgnoreEos(true);
                Arrays.stream(ClusterProcessTest.prompt(40, 9)).forEach(longRun::addPromptTokens);
                Iterator<GenerateResponse> stream = api.withDeadlineAfter(120, TimeUnit.SECONDS).generate(longRun.build());
                assertTrue(stream.hasNext());
                stream.next();
                DockerClientFactory.instance().client().killContainerCmd(decode.getContainerId()).exec();
                ClusterProcessTest.assertEndsCleanlyMidStream(stream);
            } finally {
                channel.shutdownNow();
            }
        }
    }

    private static String ip(GenericContainer<?> c, Network network) {
        return c.getContainerInfo().getNetworkSettings().getNetworks().values().stream()
                .filter(n -> network.getId().equals(n.getNetworkID())).findFirst().orElseThrow().getIpAddress();
    }

    private static void awaitServed(AtomicInteger served, int atLeast) throws InterruptedException {
        for (int i = 0; i < 600 && served.get() < atLeast; i++) {
            Thread.sleep(50);
        }
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
