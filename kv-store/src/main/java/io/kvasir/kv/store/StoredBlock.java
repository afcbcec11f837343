package io.kvasir.kv.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import com.hazelcast.internal.serialization.Data;
import com.hazelcast.internal.serialization.SerializationService;
import com.hazelcast.internal.serialization.impl.HeapData;
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

    /**
     * The bytes Hazelcast would make of {@code new StoredBlock(tenant, payload)}, built with one copy
     * of the payload. Hazelcast serializes into a pooled 4 KiB buffer that it doubles as it writes,
     * and shrinks again after every use: a 512 KiB block was copied five times over before it was
     * stored. The payload is written last, as a length-prefixed array, so the serialized form of an
     * empty block is everything before it but the length ({@code KvStoreClusterTest} pins this against
     * Hazelcast's own serialization). A map given a {@link Data} stores it as it is.
     */
    static Data serialized(SerializationService serialization, String tenant, ByteBuffer payload) {
        int n = payload.remaining();
        byte[] bytes = framed(serialization, tenant, n);
        payload.duplicate().get(bytes, bytes.length - n, n);
        return new HeapData(bytes);
    }

    /** {@link #serialized}'s array before the payload is copied into its last {@code payloadLength} bytes. */
    static byte[] framed(SerializationService serialization, String tenant, int payloadLength) {
        byte[] head = serialization.toData(new StoredBlock(tenant, new byte[0])).toByteArray();
        byte[] bytes = Arrays.copyOf(head, head.length + payloadLength);
        ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN).putInt(head.length - Integer.BYTES, payloadLength);
        return bytes;
    }

    /** The payload inside {@link #serialized} bytes, without a copy. */
    static ByteBuffer payloadOf(Data serialized, int payloadLength) {
        byte[] bytes = serialized.toByteArray();
        return ByteBuffer.wrap(bytes, bytes.length - payloadLength, payloadLength).slice();
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
