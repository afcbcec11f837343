package io.kvasir.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.DecodeRoutes;
import io.kvasir.router.TenantLimits;
import io.kvasir.node.CacheSalts;
import io.kvasir.tls.Role;

/** {@code kvasir serve}: every role in one JVM (see {@link EmbeddedCluster}); runs until stopped. */
final class ServeCommand {
    static final String USAGE = """
            usage: kvasir serve [--model PATH] [--grpc-port 50051] [--http-port 8000] [--host 127.0.0.1] [--kv-port 5701]
                                [--max-batch 16] [--kv-blocks 2048] [--block-size 16] [--threads N] [--cache-dir DIR]
                                [--kv-cache-dtype auto]
                                [--prefill-threshold 256] [--api-keys FILE] [--max-concurrent-per-tenant N]
                                [--tokens-per-minute N] [--kv-quota-per-tenant SIZE] [--decode-nodes 1]
                                [--routing kv-aware|round-robin] [--no-prefix-cache | --no-kv-store]
                                [--kv-host-budget 1g] [--kv-ssd-dir DIR [--kv-ssd-budget 10g]]
                                [--served-model-name NAME] [--chat-template FILE]
              Without --model it serves a small built-in model with random weights, generated once into
              --cache-dir (default ~/.cache/kvasir): its text is noise, the serving path is real.
              Prompts with at least --prefill-threshold uncached tokens go to the prefill node first.
              Prefix caching: each decode node keeps finished blocks in its pool of --kv-blocks, the store keeps
              them in host memory (--kv-host-budget) and, with --kv-ssd-dir, on disk (--kv-ssd-budget).
              --no-kv-store: the pools only (no store tier, no prefill node); --no-prefix-cache: no reuse at all.
              --routing kv-aware (default) sends a prompt to the decode node holding most of it, round-robin
              to each node in turn.
              HTTP: OpenAI-compatible /v1/completions, /v1/chat/completions, /v1/models, /health on --http-port,
              and vLLM's /tokenize and /detokenize. --served-model-name: the model's id there (default: the
              file's name); --chat-template FILE: a Jinja chat template for models without one (or to replace it).
              --api-keys FILE (lines `key tenant [weight=N] [shared=NS+NS]`) or env KVASIR_API_KEYS=key=tenant,…:
              callers must send Authorization: Bearer <key>; without either, serve runs open and says so.
              Per-tenant limits (429 beyond): --max-concurrent-per-tenant, --tokens-per-minute,
              --kv-quota-per-tenant (bytes of KV in the store, e.g. 512m). /metrics on --http-port; with
              --metrics-tenants it names tenants (kvasir_tenant_*, kvasir_kv_tenant_bytes): off by default,
              since /metrics takes no credential.
              API: kvasir.v1.GenerationService on --grpc-port (health and reflection too); the tenant
              comes from the x-kvasir-tenant header. Try: bin/kvasir generate --server 127.0.0.1:50051 --prompt hi
              --tls-dir DIR (router.crt/router.key and ca.crt, as 'kvasir certs' writes them): TLS on both public
              ports (gRPC and HTTPS); the roles inside this one process stay plaintext on loopback.
              Block keys are salted with a secret kept in --cache-dir (cache-secret, made on first use) or --cache-secret FILE.
            """ + KvCacheTypes.USAGE + "\n" + TracingOptions.USAGE;

    private static final Set<String> VALUES = Set.of("model", "grpc-port", "http-port", "host", "kv-port", "max-batch", "kv-blocks",
            "block-size", "threads", "cache-dir", "prefill-threshold", "api-keys", "max-concurrent-per-tenant",
            "tokens-per-minute", "kv-quota-per-tenant", "decode-nodes", "routing", "kv-host-budget", "kv-ssd-dir",
            "kv-ssd-budget", "kv-cache-dtype", "tls-dir", "tls-cert", "tls-key", "tls-ca", "cache-secret",
            "served-model-name", "chat-template", "otlp-endpoint");
    private static final Set<String> FLAGS = Set.of("no-prefix-cache", "no-kv-store", "metrics-tenants");

    private ServeCommand() {
    }

    static EmbeddedCluster.Options options(List<String> argv, PrintStream err) {
        Args a = Args.parse("serve", argv, VALUES, FLAGS);
        Path model;
        Path dir = Path.of(a.string("cache-dir", System.getProperty("user.home") + "/.cache/kvasir"));
        if (a.has("model")) {
            model = Path.of(a.string("model", null));
        } else {
            model = BuiltinModel.ensure(dir);
            err.println("kvasir serve: no --model given; serving the built-in model (random weights, generated "
                    + "deterministically) from " + model);
        }
        int threads = a.integer("threads", VectorCpuBackend.defaultThreads());
        return new EmbeddedCluster.Options(model, a.string("host", "127.0.0.1"), a.integer("grpc-port", 50051),
                a.integer("http-port", 8000), a.integer("kv-port", 5701), a.integer("max-batch", 16), a.integer("kv-blocks", 2048),
                a.integer("block-size", 16), threads,
                a.integer("prefill-threshold", 256), a.positive("decode-nodes", 1), apiKeys(a, err), limits(a),
                a.has("kv-quota-per-tenant") ? Sizes.parse("kv-quota-per-tenant", a.string("kv-quota-per-tenant", "0")) : 0,
                caching(a), threads, TlsOptions.load("serve", a, Role.ROUTER), salts(a, dir), ServedModel.of("serve", a));
    }

    /** --cache-secret FILE, else the secret in the cache directory (made on first use). */
    private static CacheSalts salts(Args a, Path cacheDir) {
        if (a.has("cache-secret") || System.getenv("KVASIR_CACHE_SECRET") != null) {
            return RoleCommands.salts("serve", a);
        }
        try {
            return CacheSalts.createIfAbsent(cacheDir.resolve("cache-secret"));
        } catch (java.io.IOException | IllegalArgumentException e) {
            throw new Args.UsageException("serve: the cache secret in " + cacheDir + ": " + e.getMessage());
        }
    }

    /** --no-prefix-cache, --no-kv-store, --routing and the store's tiers. */
    static EmbeddedCluster.Caching caching(Args a) {
        if (a.has("no-prefix-cache") && a.has("no-kv-store")) {
            throw new Args.UsageException("serve: give at most one of --no-prefix-cache and --no-kv-store");
        }
        if (a.has("kv-ssd-budget") && !a.has("kv-ssd-dir")) {
            throw new Args.UsageException("serve: --kv-ssd-budget needs --kv-ssd-dir");
        }
        EmbeddedCluster.PrefixCaching prefix = a.has("no-prefix-cache") ? EmbeddedCluster.PrefixCaching.NONE
                : a.has("no-kv-store") ? EmbeddedCluster.PrefixCaching.LOCAL : EmbeddedCluster.PrefixCaching.STORE;
        DecodeRoutes.Routing routing;
        try {
            routing = DecodeRoutes.Routing.parse(a.string("routing", "kv-aware"));
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("serve: " + e.getMessage());
        }
        long host = Sizes.parse("kv-host-budget", a.string("kv-host-budget", "1g"));
        Path ssd = a.has("kv-ssd-dir") ? Path.of(a.string("kv-ssd-dir", null)) : null;
        long ssdBudget = ssd == null ? 0 : Sizes.parse("kv-ssd-budget", a.string("kv-ssd-budget", "10g"));
        return new EmbeddedCluster.Caching(prefix, routing, host, ssd, ssdBudget, a.string("kv-cache-dtype", "auto"));
    }

    /** Per-tenant limits (0 = none): over them a request gets 429 / RESOURCE_EXHAUSTED with a retry hint. */
    static TenantLimits limits(Args a) {
        return new TenantLimits(a.integer("max-concurrent-per-tenant", 0), a.longValue("tokens-per-minute", 0));
    }

    /** From --api-keys FILE, else KVASIR_API_KEYS, else open (said on stderr). */
    static ApiKeys apiKeys(Args a, PrintStream err) {
        if (a.has("api-keys")) {
            return ApiKeys.fromFile(Path.of(a.string("api-keys", null)));
        }
        String env = System.getenv("KVASIR_API_KEYS");
        if (env != null && !env.isBlank()) {
            return ApiKeys.fromSpec(env);
        }
        err.println("kvasir: no API keys configured (--api-keys or KVASIR_API_KEYS): running open, every caller is "
                + "tenant \"default\" unless it names one in x-kvasir-tenant");
        return ApiKeys.open();
    }

    static void run(List<String> argv, PrintStream out, PrintStream err) throws InterruptedException {
        EmbeddedCluster.Options o = options(argv, err);
        Args a = Args.parse("serve", argv, VALUES, FLAGS);
        TracingOptions.start("serve", a);
        EmbeddedCluster cluster = new EmbeddedCluster(o);
        cluster.labelTenants(a.has("metrics-tenants"));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            cluster.close();
            stopped.countDown();
        }, "serve-shutdown"));
        out.println("kvasir serve: " + o.model().getFileName() + " on " + o.host() + ":" + cluster.apiPort()
                + " (gRPC kvasir.v1.GenerationService) and " + o.host() + ":" + cluster.httpPort()
                + " (HTTP, OpenAI-compatible), " + (o.publicTls() == null ? "plaintext" : "TLS")
                + ", KV store member on port " + cluster.kvPort() + " (its roles talk plaintext inside this process)"
                + "; Ctrl-C stops");
        out.flush();
        stopped.await();
    }
}
