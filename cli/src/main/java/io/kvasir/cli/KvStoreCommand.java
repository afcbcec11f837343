package io.kvasir.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import io.kvasir.kv.store.KvStoreMember;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.telemetry.MetricsEndpoint;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * {@code kvasir kv-store}: runs one member of the KV store until the process is stopped (SIGTERM
 * leaves the cluster gracefully). Every option may also come from the environment as
 * {@code KVASIR_KV_<OPTION>} (upper case, dashes as underscores), which is how the Helm chart sets them.
 */
final class KvStoreCommand {
    static final String USAGE = """
            usage: kvasir kv-store [options]           (each also as env KVASIR_KV_<OPTION>, e.g. KVASIR_KV_PEERS)
              --name NAME            member name, stable across restarts (default host:grpc-port)
              --host ADDR|auto       address to bind and advertise (default 127.0.0.1; auto: this machine's)
              --port N               Hazelcast port, first tried (default 5701)
              --grpc-port N          data-plane gRPC port (default 7401; 0 = any free)
              --replication-port N   where other members send copies of their blocks (default 7403; 0 = any free)
              --peers H:P,H:P        Hazelcast addresses of other members (static discovery)
              --k8s-dns NAME         headless service DNS name (Kubernetes discovery, instead of --peers)
              --cluster NAME         cluster name (default kvasir)
              --backup-count N       copies of each block on other members (default 1)
              --host-budget SIZE     host-memory tier per member (default 1GiB)
              --ssd-dir DIR          SSD tier directory (default: no SSD tier)
              --ssd-budget SIZE      SSD tier size (default 16GiB)
              --max-block SIZE       largest block accepted (default 64MiB)
              --quota T=SIZE,...     per-tenant byte quotas
              --default-quota SIZE   quota of tenants not listed (default unlimited)
              --metrics-port 7402    Prometheus metrics (kvasir_kv_*) on http://host:port/metrics (https under TLS)
              --metrics-tenants      name tenants in kvasir_kv_tenant_bytes (off: /metrics takes no credential)
            """ + TlsOptions.USAGE + "\n" + TracingOptions.USAGE;

    private static final Set<String> VALUES = Set.of("name", "host", "port", "grpc-port", "replication-port", "peers",
            "k8s-dns", "cluster", "backup-count", "host-budget", "ssd-dir", "ssd-budget", "max-block", "quota", "default-quota", "metrics-port",
            "tls-dir", "tls-cert", "tls-key", "tls-ca", "otlp-endpoint");

    private KvStoreCommand() {
    }

    static void run(List<String> argv, PrintStream out) throws InterruptedException {
        Args a = Args.parse("kv-store", withEnvironment(argv), VALUES, Set.of("metrics-tenants"));
        StoreConfig config = config(a);
        Tls tls = TlsOptions.load("kv-store", a, Role.KV_STORE);
        TracingOptions.start("kv-store", a);
        KvStoreMember member = KvStoreMember.start(config, tls);
        member.store().labelTenants(a.has("metrics-tenants"));
        PrometheusRegistry registry = new PrometheusRegistry();
        member.store().registerMetrics(registry);
        MetricsEndpoint metrics = RoleCommands.metrics(a, 7402, registry, tls);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            metrics.close();
            member.close();
            stopped.countDown();
        }, "kv-store-shutdown"));
        var hz = member.hazelcast().getCluster().getLocalMember().getAddress();
        out.println("kv-store member " + member.name() + ": gRPC " + member.grpcAddress() + ", Hazelcast "
                + hz.getHost() + ":" + hz.getPort() + ", metrics on port " + metrics.port() + ", cluster "
                + config.clusterName() + " (" + member.hazelcast().getCluster().getMembers().size() + " members), "
                + (tls == null ? "plaintext" : "mutual TLS"));
        out.flush();
        stopped.await();
    }

    static StoreConfig config(Args a) {
        StoreConfig c = StoreConfig.local()
                .withCluster(a.string("cluster", StoreConfig.DEFAULT_CLUSTER))
                .withBackupCount(a.integer("backup-count", 1))
                .withHostBudget(Sizes.parse("host-budget", a.string("host-budget", "1GiB")))
                .withMaxBlockBytes(Math.toIntExact(Sizes.parse("max-block", a.string("max-block", "64MiB"))));
        String host = Hosts.resolve(a.string("host", "127.0.0.1")); // "auto": this machine's address (containers)
        c = new StoreConfig(c.clusterName(), a.string("name", null), host, a.integer("port", 5701),
                a.integer("grpc-port", 7401), a.integer("replication-port", 7403), c.peers(), c.kubernetesDns(),
                c.backupCount(), c.hostBudgetBytes(),
                c.ssdDir(), c.ssdBudgetBytes(), c.maxBlockBytes(), c.tenantQuotas(), c.defaultTenantQuota());
        if (a.has("peers")) {
            c = c.withPeers(Arrays.stream(a.string("peers", "").split(",")).map(String::trim)
                    .filter(s -> !s.isEmpty()).toList());
        }
        if (a.has("k8s-dns")) {
            c = c.withKubernetesDns(a.string("k8s-dns", null));
        }
        if (a.has("ssd-dir")) {
            c = c.withSsd(Path.of(a.string("ssd-dir", null)), Sizes.parse("ssd-budget", a.string("ssd-budget", "16GiB")));
        }
        Map<String, Long> quotas = new HashMap<>();
        if (a.has("quota")) {
            for (String item : a.string("quota", "").split(",")) {
                int eq = item.indexOf('=');
                if (eq <= 0) {
                    throw new Args.UsageException("kv-store: --quota takes tenant=size pairs, got \"" + item + "\"");
                }
                quotas.put(item.substring(0, eq).trim(), Sizes.parse("quota", item.substring(eq + 1)));
            }
        }
        long otherwise = a.has("default-quota") ? Sizes.parse("default-quota", a.string("default-quota", "0"))
                : Long.MAX_VALUE;
        return c.withQuotas(quotas, otherwise);
    }

    /** Options from KVASIR_KV_* variables first, so the command line overrides them. */
    private static List<String> withEnvironment(List<String> argv) {
        java.util.ArrayList<String> all = new java.util.ArrayList<>();
        for (String option : VALUES) {
            String env = System.getenv("KVASIR_KV_" + option.toUpperCase(Locale.ROOT).replace('-', '_'));
            if (env != null) {
                all.add("--" + option);
                all.add(env);
            }
        }
        all.addAll(argv);
        return all;
    }
}
