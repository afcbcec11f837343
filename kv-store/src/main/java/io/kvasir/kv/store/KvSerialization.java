package io.kvasir.kv.store;

import com.hazelcast.config.SerializationConfig;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

/**
 * Hazelcast serialization of the store's own types: IdentifiedDataSerializable (no reflection, no
 * class names on the wire). Members and clients both register it.
 */
public final class KvSerialization {
    static final int FACTORY_ID = 0x4b56; // "KV"
    static final int STORED_BLOCK = 1;
    static final int BLOCK_LOCATION = 2;
    static final int READ_ON_MEMBER_TASK = 3;
    static final int NODE_HEARTBEAT = 4;
    static final int LOCAL_TENANT_BYTES = 5;

    private KvSerialization() {
    }

    public static void register(SerializationConfig config) {
        config.addDataSerializableFactory(FACTORY_ID, KvSerialization::create);
    }

    private static IdentifiedDataSerializable create(int classId) {
        return switch (classId) {
            case STORED_BLOCK -> new StoredBlock();
            case BLOCK_LOCATION -> new BlockLocation();
            case READ_ON_MEMBER_TASK -> new ReadOnMemberTask();
            case NODE_HEARTBEAT -> new NodeHeartbeat();
            case LOCAL_TENANT_BYTES -> new IndexSweep.LocalTenantBytes();
            default -> null;
        };
    }
}
