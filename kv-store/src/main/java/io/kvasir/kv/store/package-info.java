/**
 * A kv-store member: {@link io.kvasir.kv.store.KvStoreMember} starts Hazelcast, the tiers and the gRPC
 * data plane; {@link io.kvasir.kv.store.BlockStore} is what it does with blocks (host tier, index,
 * SSD tier in {@link io.kvasir.kv.store.SsdTier}, tenants and quotas).
 */
package io.kvasir.kv.store;
