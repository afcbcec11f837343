package io.kvasir.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.kvasir.decode.DecodeAnnouncer;
import io.kvasir.decode.CudaDecodeEngine;
import io.kvasir.decode.DecodeEngine;
import io.kvasir.decode.Decoder;
import io.kvasir.decode.DecodeGrpcService;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.node.BlockKeyChain;
import io.kvasir.node.CacheSalts;
import io.kvasir.node.EngineBlocks;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.PrefixCache;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.cuda.CudaDevice;
import io.kvasir.prefill.CudaPrefillEngine;
import io.kvasir.prefill.PrefillEngine;
import io.kvasir.prefill.Prefiller;
import io.kvasir.prefill.PrefillGrpcService;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.OpenAiHttpApi;
import io.kvasir.router.RouterMetrics;
import io.kvasir.router.DecodeRoutes;
import io.kvasir.router.KvAwarePlacement;
import io.kvasir.router.KvQuotaGate;
import io.kvasir.router.NodeLoads;
import io.kvasir.router.GenerationGrpcService;
import io.kvasir.router.PlacementPolicy;
import io.kvasir.router.TenantInterceptor;
import io.kvasir.router.TenantLimits;
import io.kvasir.telemetry.MetricsEndpoint;
import io.kvasir.tls.Role;
import io.kvasir.tls.GrpcTransport;
import io.kvasir.tls.Tls;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** {@code kvasir prefill}, {@code decode} and {@code router}: the roles of {@code serve}, one process each. */
final class RoleCommands {
    static final String CACHE_SECRET_USAGE = """
              --cache-secret FILE: the cluster's secret (16+ bytes; env KVASIR_CACHE_SECRET): block keys are then
              salted with HMAC-SHA-256(secret, tenant), so no one without it can derive a tenant's keys. The same
              on every router, prefill and decode node.""";

    static final String KV_LOAD_USAGE = """
              --kv-load by-layer (CPU nodes): a prefix fetched from the store over gRPC arrives layer by layer while
              the prompt's first layers compute; whole (the default) fetches it first. See docs/kv-store.md.""";

    static final String DECODE_USAGE = """
            usage: kvasir decode --model PATH|builtin --kv-store H:P,H:P [--grpc-port 7501] [--host 127.0.0.1]
                                 [--advertise H:P] [--max-batch 16] [--kv-blocks 2048]
                                 [--block-size 16] [--threads N] [--metrics-port 7502] [--device cpu|cuda]
                                 [--no-prefix-cache | --no-kv-store] [--kv-cache-dtype auto] [--kv-load whole]
              --no-kv-store: prefixes only from this node's own pool (the store still carries heartbeats);
              --no-prefix-cache: none at all. Both for CPU nodes.
              --advertise: the address routers dial (their --decode entry); default host:grpc-port
              (with --host 0.0.0.0, this machine's address); "auto:PORT" names this machine's address.
              Prometheus metrics (vLLM's names) on http://host:metrics-port/metrics (https under TLS).
              A decode node: the step loop, prefixes from the KV store (members' gRPC addresses in --kv-store),
              kvasir.internal.v1.DecodeService on --grpc-port.
            """ + KV_LOAD_USAGE + "\n" + KvCacheTypes.USAGE + "\n" + TlsOptions.USAGE + "\n" + CACHE_SECRET_USAGE + "\n"
            + TracingOptions.USAGE;
    static final String ROUTER_USAGE = """
            usage: kvasir router --model PATH|builtin (--decode H:P,H:P | --kv-store H:P,H:P) [--block-size 16]
                                 [--prefill H:P,… | dns:///NAME:P [--prefill-threshold 256]] [--grpc-port 50051] [--http-port 8000]
                                 [--host 127.0.0.1] [--api-keys FILE] [--routing kv-aware|round-robin] [--kv-cache-dtype auto]
                                 [--metrics-tenants] [--served-model-name NAME] [--chat-template FILE]
              With --kv-store, each prompt goes to the decode node whose local tier holds most of it, and
              without --decode the decode nodes are those whose heartbeats are live in the store.
              The public API (kvasir.v1.GenerationService): validates, tokenizes with the model's tokenizer
              (its weights are mapped, never read), sends a prompt with at least --prefill-threshold uncached
              tokens (per the KV store's index) to a prefill node first, then to the least busy decode node.
              --metrics-tenants: /metrics (on --http-port) names tenants in the kvasir_tenant_* families;
              off by default, since /metrics takes no credential. --served-model-name: the model's id in the
              HTTP API (default: the file's name); --chat-template FILE: a Jinja chat template for models
              without one (or to replace it).
            """ + KvCacheTypes.USAGE + "\n" + TlsOptions.USAGE + "\n" + CACHE_SECRET_USAGE + "\n"
            + TracingOptions.USAGE;
    static final String PREFILL_USAGE = """
            usage: kvasir prefill --model PATH|builtin --kv-store H:P,H:P [--grpc-port 7601] [--host 127.0.0.1]
                                  [--kv-blocks 4096] [--block-size 16] [--threads N]
                                  [--metrics-port 7602] [--device cpu|cuda] [--kv-cache-dtype auto] [--kv-load whole]
              A prefill node: computes what the KV store lacks of a prompt, stores its full blocks, returns
              the first token (kvasir.internal.v1.PrefillService).
            """ + KV_LOAD_USAGE + "\n" + KvCacheTypes.USAGE + "\n" + TlsOptions.USAGE + "\n" + CACHE_SECRET_USAGE + "\n"
            + TracingOptions.USAGE;

    private RoleCommands() {
    }

    static void decode(List<String> argv, PrintStream out) throws InterruptedException {
        Args a = Args.parse("decode", argv, withSecurityOptions("model", "kv-store", "grpc-port", "host",
                "max-batch", "kv-blocks", "block-size", "threads", "advertise", "metrics-port", "device", "kv-cache-dtype",
                "kv-load"),
                Set.of("no-prefix-cache", "no-kv-store"));
        if (a.has("no-prefix-cache") && a.has("no-kv-store")) {
            throw new Args.UsageException("decode: give at most one of --no-prefix-cache and --no-kv-store");
        }
        TracingOptions.start("decode", a);
        Node node = Node.open("decode", a);
        boolean storeCache = !a.has("no-prefix-cache") && !a.has("no-kv-store");
        if (node.gpu() != null && !storeCache) {
            node.close();
            throw new Args.UsageException("decode: --no-prefix-cache and --no-kv-store are for CPU decode nodes");
        }
        PrefixCache prefixes = storeCache ? node.cache()
                : a.has("no-kv-store") ? PrefixCache.localOnly(node.cache().chain()) : PrefixCache.none(node.cache().type());
        // on a GPU, --kv-blocks sizes the device KV pool (running sequences and the device tier)
        Decoder engine = node.gpu() != null
                ? new CudaDecodeEngine(node.gpu(), node.model(), node.cache(), node.blockSize(), a.integer("kv-blocks", 2048),
                        a.integer("max-batch", 16))
                : new DecodeEngine(node.model(), prefixes, node.blockSize(), a.integer("kv-blocks", 2048),
                        a.integer("max-batch", 16), 64);
        HealthStatusManager health = new HealthStatusManager();
        Server server = start(GrpcTransport.internalServer(address(a, 7501), node.tls(), DecodeServiceGrpc.SERVICE_NAME,
                Role.ROUTER).addService(new DecodeGrpcService(engine))
                .addService(health.getHealthService()).addService(ProtoReflectionServiceV1.newInstance()));
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(DecodeServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
        // routers know this node by the address they dial: announce under the same name
        String id = a.has("advertise") ? Hosts.resolve(a.string("advertise", null))
                : Hosts.resolve(Hosts.advertisable(a.string("host", "127.0.0.1"))) + ":" + server.getPort();
        DecodeAnnouncer announcer = new DecodeAnnouncer(node.store(), id, engine);
        String modelName = modelName(node.modelPath());
        PrometheusRegistry registry = new PrometheusRegistry();
        engine.registerMetrics(registry, modelName);
        node.cache().registerMetrics(registry);
        MetricsEndpoint metrics = metrics(a, 7502, registry, node.tls());
        out.println("kvasir decode: " + node.modelPath().getFileName() + " on port " + server.getPort() + " as " + id
                + ", metrics on port " + metrics.port() + ", KV store " + node.peers() + node.security());
        out.flush();
        awaitShutdown(() -> {
            health.enterTerminalState();
            metrics.close();
            announcer.close();
            server.shutdown();
            engine.close();
            node.close();
        });
    }

    static void prefill(List<String> argv, PrintStream out) throws InterruptedException {
        Args a = Args.parse("prefill", argv, withSecurityOptions("model", "kv-store", "grpc-port", "host",
                "kv-blocks", "block-size", "threads", "metrics-port", "device", "kv-cache-dtype", "kv-load"), Set.of());
        TracingOptions.start("prefill", a);
        Node node = Node.open("prefill", a);
        // on a GPU, --kv-blocks sizes the device KV tier (prompts stay within the model's context)
        Prefiller engine = node.gpu() != null
                ? new CudaPrefillEngine(node.gpu(), node.model(), node.cache(), node.blockSize(), a.integer("kv-blocks", 4096),
                        node.model().transformer().config().contextLength())
                : new PrefillEngine(node.model(), node.cache(), node.blockSize(), a.integer("kv-blocks", 4096), 64);
        HealthStatusManager health = new HealthStatusManager();
        Server server = start(GrpcTransport.internalServer(address(a, 7601), node.tls(), PrefillServiceGrpc.SERVICE_NAME,
                Role.ROUTER).addService(new PrefillGrpcService(engine))
                .addService(health.getHealthService()).addService(ProtoReflectionServiceV1.newInstance()));
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(PrefillServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
        String modelName = modelName(node.modelPath());
        PrometheusRegistry registry = new PrometheusRegistry();
        engine.registerMetrics(registry, modelName);
        node.cache().registerMetrics(registry);
        MetricsEndpoint metrics = metrics(a, 7602, registry, node.tls());
        out.println("kvasir prefill: " + node.modelPath().getFileName() + " on port " + server.getPort()
                + ", metrics on port " + metrics.port() + ", KV store " + node.peers()
                + (node.gpu() != null ? ", on " + node.gpu() : "") + node.security());
        out.flush();
        awaitShutdown(() -> {
            health.enterTerminalState();
            metrics.close();
            server.shutdown();
            engine.close();
            node.close();
        });
    }

    static void router(List<String> argv, PrintStream out) throws InterruptedException {
        Args a = Args.parse("router", argv, withSecurityOptions("model", "decode", "grpc-port", "host", "prefill",
                "kv-store", "prefill-threshold", "block-size", "api-keys", "http-port", "max-concurrent-per-tenant",
                "tokens-per-minute", "routing", "kv-cache-dtype", "served-model-name", "chat-template"),
                Set.of("metrics-tenants"));
        TracingOptions.start("router", a);
        ServedModel served = ServedModel.of("router", a);
        Tls tls = TlsOptions.load("router", a, Role.ROUTER);
        DecodeRoutes.Routing routing;
        try {
            routing = DecodeRoutes.Routing.parse(a.string("routing", "kv-aware"));
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("router: " + e.getMessage());
        }
        ApiKeys keys = ServeCommand.apiKeys(a, System.err);
        Path modelPath = modelPath(a);
        if (!a.has("decode") && !a.has("kv-store")) {
            throw new Args.UsageException("router: give --decode H:P,… or --kv-store (decode nodes are then found by "
                    + "their heartbeats)");
        }
        List<ManagedChannel> nodes = new ArrayList<>();
        List<String> ids = a.has("decode") ? Arrays.stream(a.required("decode").split(",")).map(String::trim).toList()
                : List.of();
        for (String target : ids) {
            nodes.add(GrpcTransport.channel(target, tls, Role.DECODE).build());
        }
        Model model = Model.load(modelPath, new VectorCpuBackend(1));
        var config = model.transformer().config();
        KvCacheType kvType = KvCacheTypes.of("router", a.string("kv-cache-dtype", "auto"), model);
        PlacementPolicy policy = PlacementPolicy.NONE;
        KvStoreClient store = null;
        List<ManagedChannel> prefillNodes = new ArrayList<>();
        if (a.has("prefill") && !a.has("kv-store")) {
            throw new Args.UsageException("router: --prefill needs --kv-store (the store's index decides what to prefill)");
        }
        if (a.has("kv-store")) {
            store = KvStoreClient.connect(
                    Arrays.stream(a.required("kv-store").split(",")).map(String::trim).toList(), tls);
            if (a.has("prefill")) {
                for (String target : a.required("prefill").split(",")) {
                    // dns:///service:port spreads calls over every address the name resolves to
                    // (a headless Service's pods); a plain H:P is one node
                    prefillNodes.add(GrpcTransport.channel(target.trim(), tls, Role.PREFILL)
                            .defaultLoadBalancingPolicy("round_robin").build());
                }
            }
            policy = new KvAwarePlacement(store, new BlockKeyChain(ModelFingerprint.of(model), kvType,
                    a.integer("block-size", 16), salts("router", a)), prefillNodes, a.integer("prefill-threshold", 256));
        }
        TenantLimits limits = ServeCommand.limits(a);
        if (store != null) {
            // quotas are the store's (kv-store --quota); the router refuses at the door once one is full
            limits.withKvQuota(new KvQuotaGate(store, new EngineBlocks(config, ModelFingerprint.of(model),
                    a.integer("block-size", 16), kvType).encodedBlockBytes()));
        }
        KvStoreClient storeToClose = store;
        NodeLoads loads = store == null ? null : new NodeLoads(store);
        String modelId = served.name(modelPath);
        RouterMetrics metrics = new RouterMetrics(modelId).labelTenants(a.has("metrics-tenants"));
        if (loads != null) {
            metrics.watch(loads);
        }
        DecodeRoutes routes = nodes.isEmpty()
                ? DecodeRoutes.discovered(loads, address -> GrpcTransport.channel(address, tls, Role.DECODE).build())
                : new DecodeRoutes(nodes, ids, loads);
        routes.routing(routing);
        GenerationGrpcService api = new GenerationGrpcService(model.tokenizer(), config.vocabSize(),
                config.contextLength(), routes, policy, metrics, limits);
        HealthStatusManager health = new HealthStatusManager();
        // the public API: TLS when configured, client certificates optional (API keys are the credential)
        Server server = start(GrpcTransport.publicServer(address(a, 50051), tls)
                .addService(ServerInterceptors.intercept(api, new TenantInterceptor(keys)))
                .addService(health.getHealthService()).addService(ProtoReflectionServiceV1.newInstance()));
        // ready (for a Kubernetes readiness probe) while at least one decode node can take requests
        var readiness = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("router-readiness").factory());
        readiness.scheduleWithFixedDelay(() -> {
            ServingStatus status = routes.size() > 0 ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
            health.setStatus("", status);
            health.setStatus(GenerationServiceGrpc.SERVICE_NAME, status);
        }, 0, 1, java.util.concurrent.TimeUnit.SECONDS);
        OpenAiHttpApi httpApi;
        try {
            httpApi = new OpenAiHttpApi(a.string("host", "127.0.0.1"), a.integer("http-port", 8000), modelId, api,
                    served.chat(model), keys, metrics, tls == null ? null : tls.sslContext());
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the HTTP API: " + e.getMessage(), e);
        }
        out.println("kvasir router: on port " + server.getPort() + " (gRPC), HTTP on " + httpApi.port()
                + ", decode nodes " + (a.has("decode") ? a.required("decode") : "from their heartbeats")
                + (tls == null ? ", plaintext" : ", TLS (mutual to nodes and the store)"));
        out.flush();
        awaitShutdown(() -> {
            health.enterTerminalState();
            try {
                httpApi.close();
            } catch (Exception e) {
                // going down anyway
            }
            server.shutdown();
            readiness.shutdownNow();
            nodes.forEach(ManagedChannel::shutdownNow);
            routes.close();
            prefillNodes.forEach(ManagedChannel::shutdownNow);
            if (loads != null) {
                loads.close();
            }
            if (storeToClose != null) {
                storeToClose.close();
            }
            model.close();
        });
    }

    /** A role's options plus the TLS ones and --cache-secret. */
    private static Set<String> withSecurityOptions(String... options) {
        Set<String> all = new java.util.HashSet<>(Set.of(options));
        all.addAll(TlsOptions.VALUES);
        all.addAll(TracingOptions.VALUES);
        all.add("cache-secret");
        return all;
    }

    /** The block-key salts from --cache-secret (or KVASIR_CACHE_SECRET), or plain tenant names without one. */
    static CacheSalts salts(String command, Args a) {
        String file = a.string("cache-secret", System.getenv("KVASIR_CACHE_SECRET"));
        if (file == null) {
            return CacheSalts.plain();
        }
        try {
            return CacheSalts.fromFile(Path.of(file));
        } catch (IOException | IllegalArgumentException e) {
            throw new Args.UsageException(command + ": --cache-secret: " + e.getMessage());
        }
    }

    /** --host and --grpc-port. */
    private static InetSocketAddress address(Args a, int defaultPort) {
        return new InetSocketAddress(a.string("host", "127.0.0.1"), a.integer("grpc-port", defaultPort));
    }

    /**
     * What a prefill or decode process opens: the store, its own backend, the model, the store as
     * prefix cache, and with {@code --device cuda} the GPU ({@code gpu} null on the CPU).
     */
    private record Node(Path modelPath, List<String> peers, int blockSize, KvStoreClient store, VectorCpuBackend backend,
            Model model, StorePrefixCache cache, CudaDevice gpu, Tls tls) implements AutoCloseable {
        static Node open(String role, Args a) {
            String device = a.string("device", "cpu");
            if (device.equals("cuda")) {
                CudaDevice.unavailable().ifPresent(reason -> {
                    throw new Args.UsageException(role + ": --device cuda: " + reason);
                });
            } else if (!device.equals("cpu")) {
                throw new Args.UsageException(role + ": --device must be cpu or cuda, got \"" + device + "\"");
            }
            String load = a.string("kv-load", "whole");
            boolean byLayer = load.equals("by-layer") && device.equals("cpu");
            if (!byLayer && !load.equals("whole")) {
                throw new Args.UsageException(role + ": --kv-load must be whole or by-layer (CPU nodes), got \"" + load
                        + "\"" + (device.equals("cuda") ? " with --device cuda" : ""));
            }
            Path modelPath = RoleCommands.modelPath(a);
            List<String> peers = Arrays.stream(a.required("kv-store").split(",")).map(String::trim).toList();
            int blockSize = a.integer("block-size", 16);
            Tls tls = TlsOptions.load(role, a, Role.fromId(role));
            KvStoreClient store = KvStoreClient.connect(peers, tls);
            VectorCpuBackend backend = new VectorCpuBackend(a.integer("threads", VectorCpuBackend.defaultThreads()));
            Model model = Model.load(modelPath, backend);
            // a GPU keeps f32 K/V: its auto is f32
            String dtype = a.string("kv-cache-dtype", device.equals("cuda") ? "f32" : "auto");
            KvCacheType kvType = KvCacheTypes.of(role, dtype, model);
            if (device.equals("cuda") && kvType != KvCacheType.F32) {
                throw new Args.UsageException(role + ": --device cuda keeps an f32 KV cache, not --kv-cache-dtype " + dtype);
            }
            StorePrefixCache cache = NodeCaches.storeCache(store, model, blockSize, kvType, salts(role, a));
            if (byLayer) {
                cache.loadingByLayer();
            }
            return new Node(modelPath, peers, blockSize, store, backend, model, cache,
                    device.equals("cuda") ? CudaDevice.open(0) : null, tls);
        }

        /** How the node's services are reached, for its start-up line. */
        String security() {
            return tls == null ? ", plaintext" : ", mutual TLS (routers only)";
        }

        @Override
        public void close() {
            cache.close();
            model.close();
            backend.close();
            store.close();
            if (gpu != null) {
                gpu.close();
            }
        }
    }

    /**
     * {@code --model PATH}, or {@code --model builtin}: the built-in model (random weights, made
     * deterministically, so every process writes the same file) in {@code KVASIR_CACHE_DIR} or
     * ~/.cache/kvasir. Containers and tests run the roles without shipping a model file.
     */
    static Path modelPath(Args a) {
        String model = a.required("model");
        if (!model.equals("builtin")) {
            return Path.of(model);
        }
        String dir = System.getenv("KVASIR_CACHE_DIR");
        return BuiltinModel.ensure(Path.of(dir != null && !dir.isBlank() ? dir
                : System.getProperty("user.home") + "/.cache/kvasir"));
    }

    /** The model's name in metrics and /v1/models: its file or folder name without ".gguf". */
    static String modelName(Path modelPath) {
        return modelPath.getFileName().toString().replaceFirst("\\.gguf$", "");
    }

    /**
     * {@code /metrics} on {@code --metrics-port} (default {@code port}; 0 picks a free one): HTTPS
     * with the role's certificate under TLS.
     */
    static MetricsEndpoint metrics(Args a, int port, PrometheusRegistry registry, Tls tls) {
        try {
            return new MetricsEndpoint(Hosts.resolve(a.string("host", "127.0.0.1")), a.integer("metrics-port", port), registry,
                    tls == null ? null : tls.sslContext());
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("cannot serve /metrics over TLS: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve /metrics on port " + a.integer("metrics-port", port) + ": "
                    + e.getMessage(), e);
        }
    }

    private static Server start(NettyServerBuilder builder) {
        try {
            return builder.build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the gRPC server: " + e.getMessage(), e);
        }
    }

    /** Runs until SIGTERM (or Ctrl-C), then {@code stop}. */
    static void awaitShutdown(Runnable stop) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.run();
            stopped.countDown();
        }, "role-shutdown"));
        stopped.await();
    }
}
