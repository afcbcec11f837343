package io.kvasir.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;

/** The Helm chart, linted strictly and rendered with default and GPU values; asserts on the objects. */
class HelmChartTest {
    static final Path CHART = Path.of("..", "helm", "kvasir").toAbsolutePath().normalize();

    /** The rendered manifests: kind/name → object. */
    record Manifests(Map<String, Map<String, Object>> byKey) {
        static Manifests parse(String yaml) {
            Map<String, Map<String, Object>> out = new java.util.LinkedHashMap<>();
            for (Object doc : new Yaml().loadAll(yaml)) {
                if (doc instanceof Map<?, ?> m) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> o = (Map<String, Object>) m;
                    out.put(o.get("kind") + "/" + at(o, "metadata.name"), o);
                }
            }
            return new Manifests(out);
        }

        Map<String, Object> get(String kind, String name) {
            Map<String, Object> o = byKey.get(kind + "/" + name);
            assertNotNull(o, kind + "/" + name + " not rendered; have " + byKey.keySet());
            return o;
        }

        List<String> kinds(String kind) {
            return byKey.keySet().stream().filter(k -> k.startsWith(kind + "/")).toList();
        }
    }

    /** {@code a.b.0.c} into nested maps and lists. */
    @SuppressWarnings("unchecked")
    static <T> T at(Object o, String path) {
        for (String part : path.split("\\.")) {
            if (o == null) {
                return null;
            }
            o = o instanceof List<?> l ? l.get(Integer.parseInt(part)) : ((Map<String, Object>) o).get(part);
        }
        return (T) o;
    }

    static Map<String, Object> container(Map<String, Object> workload) {
        return at(workload, "spec.template.spec.containers.0");
    }

    static List<String> args(Map<String, Object> workload) {
        return at(container(workload), "args");
    }

    static Set<Integer> containerPorts(Map<String, Object> workload) {
        List<Map<String, Object>> ports = at(container(workload), "ports");
        return ports.stream().map(p -> (Integer) p.get("containerPort")).collect(Collectors.toSet());
    }

    static Set<Integer> servicePorts(Map<String, Object> service) {
        List<Map<String, Object>> ports = at(service, "spec.ports");
        return ports.stream().map(p -> (Integer) p.get("port")).collect(Collectors.toSet());
    }

    static Manifests render(Path values) {
        var template = new Helm(CHART).template().withName("prod").withNamespace("llm");
        if (values != null) {
            template.withValuesFile(values);
        }
        return Manifests.parse(template.call());
    }

    @Test
    void theChartLintsCleanUnderStrict() {
        LintResult lint = new Helm(CHART).lint().strict().call();
        assertFalse(lint.isFailed(), String.join("\n", lint.getMessages()));
    }

    @Test
    void defaultsRenderEveryRoleWithItsPortsProbesAndDiscovery() {
        Manifests m = render(null);
        var router = m.get("Deployment", "prod-kvasir-router");
        assertEquals(2, (Integer) at(router, "spec.replicas"));
        assertEquals(Set.of(50051, 8000), containerPorts(router));
        assertEquals(50051, (Integer) at(container(router), "readinessProbe.grpc.port"), "readiness on gRPC health");
        assertEquals(50051, (Integer) at(container(router), "livenessProbe.grpc.port"));
        assertTrue(args(router).contains("--kv-store=$(KVASIR_STORE)"), "decode nodes found via the store: "
                + args(router));
        assertTrue(args(router).contains("--prefill=dns:///prod-kvasir-prefill-headless.llm.svc:7601"), args(router).toString());
        assertFalse(args(router).stream().anyMatch(a -> a.startsWith("--api-keys")), "no keys: open");
        Map<String, String> annotations = at(router, "spec.template.metadata.annotations");
        assertEquals("true", annotations.get("prometheus.io/scrape"));
        assertEquals("8000", annotations.get("prometheus.io/port"));
        assertEquals(Set.of(50051, 8000), servicePorts(m.get("Service", "prod-kvasir-router")));

        var decode = m.get("Deployment", "prod-kvasir-decode");
        assertEquals(2, (Integer) at(decode, "spec.replicas"));
        assertTrue(args(decode).contains("--advertise=$(POD_IP):7501"), "announces the address routers dial");
        assertTrue(args(decode).contains("--device=cpu"));
        assertTrue(args(decode).contains("--kv-cache-dtype=$(KVASIR_CACHE_DTYPE)") && args(router).contains(
                "--kv-cache-dtype=$(KVASIR_CACHE_DTYPE)"), "one KV cache dtype on every role");
        assertEquals("auto", at(m.get("ConfigMap", "prod-kvasir-config"), "data.KVASIR_CACHE_DTYPE"));
        assertEquals(Set.of(7501, 7502), containerPorts(decode));
        Map<String, Object> limits = at(container(decode), "resources.limits");
        assertFalse(limits.containsKey("nvidia.com/gpu"), "no GPU unless asked");
        Map<String, String> decodeAnnotations = at(decode, "spec.template.metadata.annotations");
        assertEquals("7502", decodeAnnotations.get("prometheus.io/port"));
        assertEquals("None", at(m.get("Service", "prod-kvasir-prefill-headless"), "spec.clusterIP"));

        var kv = m.get("StatefulSet", "prod-kvasir-kv-store");
        assertEquals(3, (Integer) at(kv, "spec.replicas"));
        assertEquals("prod-kvasir-kv-store-headless", at(kv, "spec.serviceName"));
        assertTrue(args(kv).contains("--k8s-dns=prod-kvasir-kv-store-headless.llm.svc.cluster.local"), args(kv).toString());
        assertTrue(args(kv).contains("--host=$(POD_IP)"));
        assertTrue(args(kv).contains("--backup-count=1"));
        assertTrue(args(kv).contains("--ssd-dir=/var/lib/kvasir/kv"));
        assertEquals("100Gi", at(kv, "spec.volumeClaimTemplates.0.spec.resources.requests.storage"));
        assertEquals(Set.of(5701, 7401, 7402, 7403), containerPorts(kv));
        assertTrue(args(kv).contains("--replication-port=7403"));
        assertEquals(7401, (Integer) at(container(kv), "readinessProbe.grpc.port"));
        var headless = m.get("Service", "prod-kvasir-kv-store-headless");
        assertEquals("None", at(headless, "spec.clusterIP"));
        assertEquals(Boolean.TRUE, at(headless, "spec.publishNotReadyAddresses"), "members must see each other before ready");
        assertEquals(Set.of(5701, 7401, 7402), servicePorts(headless));

        // routers and nodes reach the store by its members' gRPC addresses, never Hazelcast
        String store = at(m.get("ConfigMap", "prod-kvasir-config"), "data.KVASIR_STORE");
        assertEquals("prod-kvasir-kv-store-0.prod-kvasir-kv-store-headless.llm.svc:7401,"
                + "prod-kvasir-kv-store-1.prod-kvasir-kv-store-headless.llm.svc:7401,"
                + "prod-kvasir-kv-store-2.prod-kvasir-kv-store-headless.llm.svc:7401", store);
        assertEquals(List.of("PodDisruptionBudget/prod-kvasir-decode", "PodDisruptionBudget/prod-kvasir-kv-store",
                "PodDisruptionBudget/prod-kvasir-prefill", "PodDisruptionBudget/prod-kvasir-router"),
                m.kinds("PodDisruptionBudget").stream().sorted().toList());
        assertEquals(1, (Integer) at(m.get("PodDisruptionBudget", "prod-kvasir-router"), "spec.minAvailable"));
        assertTrue(m.kinds("Secret").isEmpty());
        assertTrue(m.kinds("ServiceMonitor").isEmpty());
    }

    @Test
    void gpuValuesRequestGpusAndTenantsBecomeASecret(@TempDir Path dir) throws Exception {
        Path values = dir.resolve("gpu.yaml");
        Files.writeString(values, """
                model: {path: /models/llama.gguf, volume: {persistentVolumeClaim: {claimName: models}}}
                prefill: {gpu: {enabled: true, count: 2}}
                decode: {gpu: {enabled: true}, replicas: 4}
                tenants:
                  keys:
                    - {key: sk-a, tenant: alpha, weight: 3, shared: [public, docs]}
                    - {key: sk-b, tenant: beta}
                  maxConcurrentRequests: 7
                  tokensPerMinute: 100000
                  kvQuota: {alpha: 8GiB, beta: 2GiB}
                metrics: {serviceMonitor: {enabled: true}}
                """);
        Manifests m = render(values);
        var prefill = m.get("Deployment", "prod-kvasir-prefill");
        assertEquals(2, gpu(prefill, "limits"));
        assertEquals(2, gpu(prefill, "requests"));
        assertTrue(args(prefill).contains("--device=cuda"));
        List<Map<String, Object>> tolerations = at(prefill, "spec.template.spec.tolerations");
        assertEquals("nvidia.com/gpu", tolerations.getFirst().get("key"));
        var decode = m.get("Deployment", "prod-kvasir-decode");
        assertEquals(4, (Integer) at(decode, "spec.replicas"));
        assertEquals(1, gpu(decode, "limits"));
        assertTrue(args(decode).contains("--device=cuda"));
        assertEquals("f32", at(m.get("ConfigMap", "prod-kvasir-config"), "data.KVASIR_CACHE_DTYPE"),
                "GPU nodes keep f32, so every role does");
        List<Map<String, Object>> mounts = at(container(decode), "volumeMounts");
        assertTrue(mounts.stream().anyMatch(v -> v.get("name").equals("model") && v.get("mountPath").equals("/models")));
        assertEquals("models", at(decode, "spec.template.spec.volumes.1.persistentVolumeClaim.claimName"));
        Map<String, Object> routerLimits = at(container(m.get("Deployment", "prod-kvasir-router")), "resources.limits");
        assertFalse(routerLimits.containsKey("nvidia.com/gpu"), "the router needs no GPU");

        String keys = at(m.get("Secret", "prod-kvasir-api-keys"), "stringData.api-keys");
        assertEquals(List.of("sk-a alpha weight=3 shared=public+docs", "sk-b beta"),
                keys.lines().map(String::strip).filter(l -> !l.isEmpty()).toList());
        var router = m.get("Deployment", "prod-kvasir-router");
        assertTrue(args(router).contains("--api-keys=/etc/kvasir/api-keys"));
        // the cluster's limits, shared by the two routers (each counts on its own)
        assertTrue(args(router).contains("--max-concurrent-per-tenant=4"), args(router).toString());
        assertTrue(args(router).contains("--tokens-per-minute=50000"), args(router).toString());
        assertFalse(args(router).contains("--metrics-tenants"), "tenant names stay out of metrics unless asked for");
        assertEquals("prod-kvasir-api-keys", at(router, "spec.template.spec.volumes.0.secret.secretName"));
        assertTrue(args(m.get("StatefulSet", "prod-kvasir-kv-store")).contains("--quota=alpha=8GiB,beta=2GiB"));
        assertEquals(4, m.kinds("ServiceMonitor").size());
        assertEquals("/models/llama.gguf", at(m.get("ConfigMap", "prod-kvasir-config"), "data.KVASIR_MODEL"));
    }


    /** The metric names the dashboard's queries read (histograms by their base name), from the chart's JSON. */
    static Set<String> dashboardMetrics(String dashboardJson) {
        Set<String> names = new java.util.TreeSet<>();
        JsonObject dashboard = JsonParser.parseString(dashboardJson).getAsJsonObject();
        for (var panel : dashboard.getAsJsonArray("panels")) {
            for (var target : panel.getAsJsonObject().getAsJsonArray("targets")) {
                var m = java.util.regex.Pattern.compile("\\b(vllm:[a-z][a-z0-9_]*|kvasir_[a-z0-9_]+)")
                        .matcher(target.getAsJsonObject().get("expr").getAsString());
                while (m.find()) {
                    names.add(m.group(1).replaceAll("_(bucket|count|sum)$", ""));
                }
            }
        }
        return names;
    }

    @Test
    void theDashboardAndTracingAreOffByDefaultAndRenderWhenAsked(@TempDir Path dir) throws Exception {
        Manifests plain = render(null);
        assertTrue(plain.kinds("ConfigMap").stream().noneMatch(k -> k.contains("dashboard")), plain.byKey().keySet().toString());
        Map<String, Object> config = at(plain.get("ConfigMap", "prod-kvasir-config"), "data");
        assertFalse(config.containsKey("OTEL_EXPORTER_OTLP_ENDPOINT"), "no tracing unless asked for");

        Path values = dir.resolve("observed.yaml");
        Files.writeString(values, """
                metrics: {grafanaDashboard: {enabled: true}}
                tracing: {otlpEndpoint: "http://otel-collector.monitoring:4318", sampleRatio: 0.25}
                """);
        Manifests m = render(values);
        var dashboard = m.get("ConfigMap", "prod-kvasir-grafana-dashboard");
        assertEquals("1", at(dashboard, "metadata.labels.grafana_dashboard"), "the label kube-prometheus-stack's sidecar watches");
        Map<String, String> data = at(dashboard, "data");
        String json = data.get("kvasir.json");
        assertEquals(Files.readString(CHART.resolve("dashboards/kvasir.json")).strip(), json.strip());
        JsonObject parsed = JsonParser.parseString(json).getAsJsonObject();
        assertEquals("kvasir-overview", parsed.get("uid").getAsString());
        Set<String> titles = new java.util.HashSet<>();
        parsed.getAsJsonArray("panels").forEach(p -> titles.add(p.getAsJsonObject().get("title").getAsString()));
        assertTrue(titles.containsAll(List.of("Time to first token", "Inter-token latency", "Goodput",
                "KV store hit rate by tier", "KV store bytes per second", "Queue depth", "Refusals per tenant",
                "Errors by code")), titles.toString());
        assertTrue(dashboardMetrics(json).containsAll(List.of("vllm:time_to_first_token_seconds",
                "vllm:inter_token_latency_seconds", "kvasir_kv_hits_total", "kvasir_kv_transfer_bytes_total",
                "kvasir_tenant_refused_total", "kvasir_request_errors_total")), dashboardMetrics(json).toString());

        Map<String, Object> traced = at(m.get("ConfigMap", "prod-kvasir-config"), "data");
        assertEquals("http://otel-collector.monitoring:4318", traced.get("OTEL_EXPORTER_OTLP_ENDPOINT"));
        assertEquals("parentbased_traceidratio", traced.get("OTEL_TRACES_SAMPLER"));
        assertEquals("0.25", traced.get("OTEL_TRACES_SAMPLER_ARG"));
    }

    @Test
    void tlsMountsEachRolesSecretAndCertManagerIssuesThemNetworkPoliciesFenceTheInternalPorts(@TempDir Path dir)
            throws Exception {
        Path values = dir.resolve("tls.yaml");
        Files.writeString(values, """
                tls:
                  enabled: true
                  secrets: {decode: my-decode-cert}
                  certManager: {enabled: true, issuerRef: {kind: ClusterIssuer, name: kvasir-ca}, routerDnsNames: [llm.example.com]}
                networkPolicy: {enabled: true}
                metrics: {serviceMonitor: {enabled: true}}
                """);
        Manifests m = render(values);
        Map<String, String> secrets = Map.of("Deployment/prod-kvasir-router", "prod-kvasir-router-tls",
                "Deployment/prod-kvasir-prefill", "prod-kvasir-prefill-tls", "Deployment/prod-kvasir-decode", "my-decode-cert",
                "StatefulSet/prod-kvasir-kv-store", "prod-kvasir-kv-store-tls");
        for (var e : secrets.entrySet()) {
            String[] kindName = e.getKey().split("/");
            var workload = m.get(kindName[0], kindName[1]);
            assertTrue(args(workload).containsAll(List.of("--tls-cert=/etc/kvasir-tls/tls.crt",
                    "--tls-key=/etc/kvasir-tls/tls.key", "--tls-ca=/etc/kvasir-tls/ca.crt")), e.getKey() + ": " + args(workload));
            List<Map<String, Object>> volumes = at(workload, "spec.template.spec.volumes");
            assertTrue(volumes.stream().anyMatch(v -> v.get("name").equals("tls")
                    && e.getValue().equals(at(v, "secret.secretName"))), e.getKey() + ": " + volumes);
            List<Map<String, Object>> mounts = at(container(workload), "volumeMounts");
            assertTrue(mounts.stream().anyMatch(v -> v.get("mountPath").equals("/etc/kvasir-tls")), e.getKey());
            assertNotNull(at(container(workload), "readinessProbe.tcpSocket"), "the kubelet's gRPC probe has no TLS");
            Map<String, String> annotations = at(workload, "spec.template.metadata.annotations");
            assertEquals("https", annotations.get("prometheus.io/scheme"), e.getKey() + ": metrics over HTTPS");
        }
        // every role's metrics over HTTPS: the Prometheus Operator trusts the role's CA and checks its certificate's name
        for (String role : List.of("router", "prefill", "decode", "kv-store")) {
            var monitor = m.get("ServiceMonitor", "prod-kvasir-" + role);
            assertEquals("https", at(monitor, "spec.endpoints.0.scheme"), role);
            assertEquals("prod-kvasir-" + role, at(monitor, "spec.endpoints.0.tlsConfig.serverName"), role);
            assertTrue(((List<?>) at(m.get("Certificate", "prod-kvasir-" + role), "spec.dnsNames"))
                    .contains("prod-kvasir-" + role), role + ": the name the scrape checks is in the certificate");
        }
        var router = m.get("Certificate", "prod-kvasir-router");
        assertEquals(List.of("spiffe://kvasir/router"), at(router, "spec.uris"));
        assertTrue(((List<?>) at(router, "spec.dnsNames")).contains("llm.example.com"));
        assertEquals("PKCS8", at(router, "spec.privateKey.encoding"));
        assertEquals("ClusterIssuer", at(router, "spec.issuerRef.kind"));
        assertEquals(List.of("spiffe://kvasir/kv-store"), at(m.get("Certificate", "prod-kvasir-kv-store"), "spec.uris"));
        assertEquals("my-decode-cert", at(m.get("Certificate", "prod-kvasir-decode"), "spec.secretName"));

        // decode nodes: their gRPC port from routers only; the store's gRPC from this release's roles,
        // its Hazelcast and replication ports from the other members only
        var decode = m.get("NetworkPolicy", "prod-kvasir-decode");
        assertEquals(7501, (Integer) at(decode, "spec.ingress.0.ports.0.port"));
        List<Map<String, Object>> from = at(decode, "spec.ingress.0.from");
        assertEquals(List.of("router"), from.stream().map(f -> ((Map<?, ?>) at(f, "podSelector.matchLabels"))
                .get("app.kubernetes.io/component")).toList());
        var storePolicy = m.get("NetworkPolicy", "prod-kvasir-kv-store");
        assertEquals(5701, (Integer) at(storePolicy, "spec.ingress.0.ports.0.port"));
        assertEquals(7403, (Integer) at(storePolicy, "spec.ingress.0.ports.1.port"), "block copies: members only");
        List<Map<String, Object>> hazelcastFrom = at(storePolicy, "spec.ingress.0.from");
        assertEquals(List.of("kv-store"), hazelcastFrom.stream().map(f -> ((Map<?, ?>) at(f, "podSelector.matchLabels"))
                .get("app.kubernetes.io/component")).toList());
        assertEquals(7401, (Integer) at(storePolicy, "spec.ingress.1.ports.0.port"));
        List<Map<String, Object>> storeFrom = at(storePolicy, "spec.ingress.1.from");
        assertEquals(4, storeFrom.size());
        assertNull(at(m.get("NetworkPolicy", "prod-kvasir-router"), "spec.ingress.0.from"), "the public API is open");

        // routers and nodes salt block keys with the release's cache secret (a pre-install hook, drawn
        // once: helm-java's template leaves hooks out, helm lint renders it)
        for (String workload : List.of("prod-kvasir-router", "prod-kvasir-prefill", "prod-kvasir-decode")) {
            var w = m.get("Deployment", workload);
            assertTrue(args(w).contains("--cache-secret=/etc/kvasir-secret/cache-secret"), workload);
            List<Map<String, Object>> volumes = at(w, "spec.template.spec.volumes");
            assertTrue(volumes.stream().anyMatch(v -> "prod-kvasir-cache-secret".equals(at(v, "secret.secretName"))), workload);
        }
    }

    private static int gpu(Map<String, Object> workload, String kind) {
        Map<String, Object> r = at(container(workload), "resources." + kind);
        Object n = r.get("nvidia.com/gpu");
        assertNotNull(n, "no nvidia.com/gpu in " + kind + ": " + r);
        return ((Number) n).intValue();
    }
}
