package io.kvasir.kv.store;

import java.io.IOException;
import java.util.List;
import java.util.Objects;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import io.kvasir.proto.kv.v1.Tier;

/**
 * An index entry: which tier holds a block, on which member, for which tenant, its bytes (what
 * the tenant's quota is charged), and the members that were sent a copy of it (see
 * {@link CopySender}; a hint: a copy may have been dropped since). Kept in a Hazelcast map beside
 * the blocks (same key, so the same partition and owner); lookups read only this.
 */
public final class BlockLocation implements IdentifiedDataSerializable {
    private int tier;
    private String member;
    private String tenant;
    private long bytes;
    private List<String> copies;

    public BlockLocation() {
        // for Hazelcast
    }

    public BlockLocation(Tier tier, String member, String tenant, long bytes) {
        this(tier, member, tenant, bytes, List.of());
    }

    public BlockLocation(Tier tier, String member, String tenant, long bytes, List<String> copies) {
        this.tier = tier.getNumber();
        this.member = member;
        this.tenant = tenant;
        this.bytes = bytes;
        this.copies = List.copyOf(copies);
    }


    public Tier tier() {
        return Tier.forNumber(tier);
    }

    public String member() {
        return member;
    }

    public String tenant() {
        return tenant;
    }

    public long bytes() {
        return bytes;
    }

    /** Members that were sent a copy of the block, by name. */
    public List<String> copies() {
        return copies;
    }

    @Override
    public int getFactoryId() {
        return KvSerialization.FACTORY_ID;
    }

    @Override
    public int getClassId() {
        return KvSerialization.BLOCK_LOCATION;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeInt(tier);
        out.writeString(member);
        out.writeString(tenant);
        out.writeLong(bytes);
        out.writeStringArray(copies.toArray(String[]::new));
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        tier = in.readInt();
        member = in.readString();
        tenant = in.readString();
        bytes = in.readLong();
        copies = List.of(in.readStringArray());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BlockLocation l && l.tier == tier && l.member.equals(member) && l.tenant.equals(tenant)
                && l.bytes == bytes && l.copies.equals(copies);
    }

    @Override
    public int hashCode() {
        return Objects.hash(tier, member, tenant, bytes, copies);
    }

    @Override
    public String toString() {
        return tier() + "@" + member + (copies.isEmpty() ? "" : " copies " + copies);
    }
}
