package io.kvasir.kv.store;

import java.io.IOException;
import java.util.Objects;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import io.kvasir.proto.kv.v1.Tier;

/**
 * An index entry: which tier holds a block, on which member, for which tenant. Kept in a Hazelcast
 * map beside the blocks (same key, so the same partition and owner); lookups read only this.
 */
public final class BlockLocation implements IdentifiedDataSerializable {
    private int tier;
    private String member;
    private String tenant;

    public BlockLocation() {
        // for Hazelcast
    }

    public BlockLocation(Tier tier, String member, String tenant) {
        this.tier = tier.getNumber();
        this.member = member;
        this.tenant = tenant;
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
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        tier = in.readInt();
        member = in.readString();
        tenant = in.readString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BlockLocation l && l.tier == tier && l.member.equals(member) && l.tenant.equals(tenant);
    }

    @Override
    public int hashCode() {
        return Objects.hash(tier, member, tenant);
    }

    @Override
    public String toString() {
        return tier() + "@" + member;
    }
}
