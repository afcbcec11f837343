package io.kvasir.kv.store;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import com.google.protobuf.ByteString;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.proto.kv.v1.NodeStatus;

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

    /** Most blocks one heartbeat may list (a node with a 1M-block local tier). */
    static final int MAX_RESIDENT = 1 << 20;

    /** The heartbeat as the store's gRPC API carries it. */
    public NodeStatus toProto() {
        NodeStatus.Builder b = NodeStatus.newBuilder().setNodeId(nodeId).setRole(role).setAddress(address)
                .setFreeBlocks(freeBlocks).setTotalBlocks(totalBlocks).setRunning(running).setWaiting(waiting)
                .setResidentKeys(ByteString.copyFrom(keys));
        for (String t : tenants) {
            b.addResidentTenants(t);
        }
        return b.build();
    }

    /** A heartbeat received over gRPC; anything out of bounds is an {@link IllegalArgumentException} naming it. */
    public static NodeHeartbeat fromProto(NodeStatus s) {
        requireText("node_id", s.getNodeId(), 256);
        requireText("role", s.getRole(), 32);
        requireText("address", s.getAddress(), 256);
        int n = s.getResidentTenantsCount();
        if (n > MAX_RESIDENT) {
            throw new IllegalArgumentException("resident_tenants lists " + n + " blocks; the limit is " + MAX_RESIDENT);
        }
        if (s.getResidentKeys().size() != (long) n * BlockKey.BYTES) {
            throw new IllegalArgumentException("resident_keys is " + s.getResidentKeys().size() + " bytes; "
                    + n + " resident blocks need " + (long) n * BlockKey.BYTES);
        }
        for (String t : s.getResidentTenantsList()) {
            requireText("resident_tenants", t, 128);
        }
        // unsigned on the wire: past the signed range they read as negative here
        if (s.getRunning() < 0 || s.getWaiting() < 0 || s.getFreeBlocks() < 0 || s.getTotalBlocks() < 0) {
            throw new IllegalArgumentException("running, waiting and the block counts must be below 2^31 (2^63 for blocks)");
        }
        NodeHeartbeat h = new NodeHeartbeat();
        h.nodeId = s.getNodeId();
        h.role = s.getRole();
        h.address = s.getAddress();
        h.freeBlocks = s.getFreeBlocks();
        h.totalBlocks = s.getTotalBlocks();
        h.running = s.getRunning();
        h.waiting = s.getWaiting();
        h.tenants = s.getResidentTenantsList().toArray(new String[0]);
        h.keys = s.getResidentKeys().toByteArray();
        return h;
    }

    private static void requireText(String field, String value, int max) {
        if (value.isBlank() || value.length() > max) {
            throw new IllegalArgumentException(field + " must be 1 to " + max + " characters, got " + value.length());
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
