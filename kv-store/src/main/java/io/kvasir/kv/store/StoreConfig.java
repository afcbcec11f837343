package io.kvasir.kv.store;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * How one kv-store member runs. {@code grpcPort} and {@code replicationPort} (where other members
 * send copies of their blocks) 0 pick a free port; {@code hazelcastPort} is the
 * first port tried (Hazelcast moves up when it is taken). Peers are {@code host:port} Hazelcast
 * addresses; {@code kubernetesDns}, when set, finds peers through a headless service's DNS instead.
 * {@code ssdDir} null runs without an SSD tier.
 */
public record StoreConfig(
        String clusterName,
        String memberName,
        String host,
        int hazelcastPort,
        int grpcPort,
        int replicationPort,
        List<String> peers,
        String kubernetesDns,
        int backupCount,
        long hostBudgetBytes,
        Path ssdDir,
        long ssdBudgetBytes,
        int maxBlockBytes,
        Map<String, Long> tenantQuotas,
        long defaultTenantQuota) {

    public static final String DEFAULT_CLUSTER = "kvasir";

    public StoreConfig {
        if (backupCount < 0 || backupCount > 6) {
            throw new IllegalArgumentException("backup count must be 0..6, got " + backupCount);
        }
        if (hostBudgetBytes < (1 << 20)) {
            throw new IllegalArgumentException("host budget must be at least 1 MiB, got " + hostBudgetBytes);
        }
        if (ssdDir != null && ssdBudgetBytes <= 0) {
            throw new IllegalArgumentException("SSD budget must be positive, got " + ssdBudgetBytes);
        }
        if (maxBlockBytes <= 0) {
            throw new IllegalArgumentException("max block size must be positive, got " + maxBlockBytes);
        }
        peers = List.copyOf(peers);
        tenantQuotas = Map.copyOf(tenantQuotas);
    }

    /** A member on loopback with defaults fit for a laptop: 1 backup, 1 GiB host tier, no SSD. */
    public static StoreConfig local() {
        return new StoreConfig(DEFAULT_CLUSTER, null, "127.0.0.1", 5701, 0, 0, List.of(), null, 1, 1L << 30, null, 0,
                64 << 20, Map.of(), Long.MAX_VALUE);
    }

    public StoreConfig withCluster(String name) {
        return new StoreConfig(name, memberName, host, hazelcastPort, grpcPort, replicationPort, peers, kubernetesDns, backupCount,
                hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withMemberName(String name) {
        return new StoreConfig(clusterName, name, host, hazelcastPort, grpcPort, replicationPort, peers, kubernetesDns, backupCount,
                hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withPorts(int hazelcast, int grpc) {
        return new StoreConfig(clusterName, memberName, host, hazelcast, grpc, replicationPort, peers, kubernetesDns, backupCount,
                hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withReplicationPort(int port) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, port, peers, kubernetesDns,
                backupCount, hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withPeers(List<String> list) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, replicationPort, list, kubernetesDns, backupCount,
                hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withKubernetesDns(String dns) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, replicationPort, peers, dns, backupCount,
                hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withBackupCount(int count) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, replicationPort, peers, kubernetesDns, count,
                hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withHostBudget(long bytes) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, replicationPort, peers, kubernetesDns,
                backupCount, bytes, ssdDir, ssdBudgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withSsd(Path dir, long budgetBytes) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, replicationPort, peers, kubernetesDns,
                backupCount, hostBudgetBytes, dir, budgetBytes, maxBlockBytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withMaxBlockBytes(int bytes) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, replicationPort, peers, kubernetesDns,
                backupCount, hostBudgetBytes, ssdDir, ssdBudgetBytes, bytes, tenantQuotas, defaultTenantQuota);
    }

    public StoreConfig withQuotas(Map<String, Long> perTenant, long otherwise) {
        return new StoreConfig(clusterName, memberName, host, hazelcastPort, grpcPort, replicationPort, peers, kubernetesDns,
                backupCount, hostBudgetBytes, ssdDir, ssdBudgetBytes, maxBlockBytes, perTenant, otherwise);
    }

    public long quotaOf(String tenant) {
        return tenantQuotas.getOrDefault(tenant, defaultTenantQuota);
    }
}
