package io.kvasir.kv.store;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import io.kvasir.kv.block.BlockKey;

/**
 * What a prefill or decode node tells the cluster every few seconds (with a TTL, so a dead node
 * disappears on its own): who it is, where it serves, how much room and work it has, and which
 * blocks its local tier holds, so lookups (and the router) can send a request to its KV.
 */
public final class NodeHeartbeat implements IdentifiedDataSerializable {
    /** A block a node holds, with the tenant it belongs to. */
    public record Resident(String tenant, BlockKey key) {
    }

    private String nodeId;
    private String role;
    private String address;
    private long freeBlocks;
    private long totalBlocks;
    private int running;
    private int waiting;
    private String[] tenants;
    private byte[] keys;

    public NodeHeartbeat() {
        // for Hazelcast
    }

    /**
     * {@code freeBlocks} of {@code totalBlocks} KV blocks unused; {@code running} sequences in the
     * batch and {@code waiting} queued for room.
     */
    public NodeHeartbeat(String nodeId, String role, String address, long freeBlocks, long totalBlocks, int running,
            int waiting, List<Resident> resident) {
        this.nodeId = nodeId;
        this.role = role;
        this.address = address;
        this.freeBlocks = freeBlocks;
        this.totalBlocks = totalBlocks;
        this.running = running;
        this.waiting = waiting;
        this.tenants = new String[resident.size()];
        this.keys = new byte[resident.size() * BlockKey.BYTES];
        for (int i = 0; i < resident.size(); i++) {
            tenants[i] = resident.get(i).tenant();
            System.arraycopy(resident.get(i).key().toBytes(), 0, keys, i * BlockKey.BYTES, BlockKey.BYTES);
        }
    }

    public String nodeId() {
        return nodeId;
    }

    public String role() {
        return role;
    }

    public String address() {
        return address;
    }

    public long freeBlocks() {
        return freeBlocks;
    }

    public long totalBlocks() {
        return totalBlocks;
    }

    public int running() {
        return running;
    }

    public int waiting() {
        return waiting;
    }

    /** Sequences running or waiting. */
    public int load() {
        return running + waiting;
    }

    public List<Resident> resident() {
        List<Resident> out = new ArrayList<>(tenants.length);
        for (int i = 0; i < tenants.length; i++) {
            out.add(new Resident(tenants[i], BlockKey.of(java.util.Arrays.copyOfRange(keys, i * BlockKey.BYTES,
                    (i + 1) * BlockKey.BYTES))));
        }
        return out;
    }

    @Override
    public int getFactoryId() {
        return KvSerialization.FACTORY_ID;
    }

    @Override
    public int getClassId() {
        return KvSerialization.NODE_HEARTBEAT;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeString(nodeId);
        out.writeString(role);
        out.writeString(address);
        out.writeLong(freeBlocks);
        out.writeLong(totalBlocks);
        out.writeInt(running);
        out.writeInt(waiting);
        out.writeStringArray(tenants);
        out.writeByteArray(keys);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        nodeId = in.readString();
        role = in.readString();
        address = in.readString();
        freeBlocks = in.readLong();
        totalBlocks = in.readLong();
        running = in.readInt();
        waiting = in.readInt();
        tenants = in.readStringArray();
        keys = in.readByteArray();
    }
}
