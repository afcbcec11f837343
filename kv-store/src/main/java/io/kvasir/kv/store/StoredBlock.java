package io.kvasir.kv.store;

import java.io.IOException;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

/** A block in the host tier: the owning tenant and the encoded block (Arrow IPC bytes). */
final class StoredBlock implements IdentifiedDataSerializable {
    private String tenant;
    private byte[] payload;

    public StoredBlock() {
        // for Hazelcast
    }

    public StoredBlock(String tenant, byte[] payload) {
        this.tenant = tenant;
        this.payload = payload;
    }

    public String tenant() {
        return tenant;
    }

    public byte[] payload() {
        return payload;
    }

    @Override
    public int getFactoryId() {
        return KvSerialization.FACTORY_ID;
    }

    @Override
    public int getClassId() {
        return KvSerialization.STORED_BLOCK;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeString(tenant);
        out.writeByteArray(payload);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        tenant = in.readString();
        payload = in.readByteArray();
    }
}
