package io.kvasir.kv.store;

import java.io.IOException;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.hazelcast.cluster.Member;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.HazelcastInstanceAware;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import io.kvasir.kv.block.BlockKey;

/**
 * Runs on a member that holds a block other than as a partition owner: on its SSD (read and
 * verified there) or as a copy ({@link BlockCopies}). Returns the tenant's block, or null.
 */
final class ReadOnMemberTask implements Callable<byte[]>, IdentifiedDataSerializable, HazelcastInstanceAware {
    static final String SSD_CONTEXT_KEY = "kvasir.ssd";
    static final String COPIES_CONTEXT_KEY = "kvasir.copies";
    private static final Logger LOG = Logger.getLogger(ReadOnMemberTask.class.getName());

    private String keyHex;
    private String tenant;
    private boolean copy;
    private transient HazelcastInstance hz;

    ReadOnMemberTask() {
    }

    /** {@code copy}: read the member's copy of the block; else its SSD. */
    ReadOnMemberTask(BlockKey key, String tenant, boolean copy) {
        this.keyHex = key.hex();
        this.tenant = tenant;
        this.copy = copy;
    }

    /**
     * Runs the task on the live member called {@code member}: its copy of the tenant's block when
     * {@code copy}, else its SSD's. Null when that member is gone or does not answer in 30 s.
     */
    static byte[] readOn(HazelcastInstance hz, String member, BlockKey key, String tenant, boolean copy) {
        Member holder = BlockStore.memberNamed(hz, member);
        if (holder == null) {
            return null; // gone, and its disk and copies with it
        }
        try {
            return hz.getExecutorService(BlockStore.READS).submitToMember(new ReadOnMemberTask(key, tenant, copy),
                    holder).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.log(Level.FINE, (copy ? "copy" : "SSD") + " read of " + key.hex() + " on " + member + " failed", e);
            return null;
        }
    }

    @Override
    public byte[] call() {
        if (copy) {
            return hz.getUserContext().get(COPIES_CONTEXT_KEY) instanceof BlockCopies copies
                    ? copies.get(keyHex, tenant) : null;
        }
        if (!(hz.getUserContext().get(SSD_CONTEXT_KEY) instanceof SsdTier tier)) {
            return null;
        }
        return tier.read(BlockKey.fromHex(keyHex)).filter(hit -> hit.tenant().equals(tenant))
                .map(SsdTier.Hit::payload).orElse(null);
    }

    @Override
    public void setHazelcastInstance(HazelcastInstance instance) {
        this.hz = instance;
    }

    @Override
    public int getFactoryId() {
        return KvSerialization.FACTORY_ID;
    }

    @Override
    public int getClassId() {
        return KvSerialization.READ_ON_MEMBER_TASK;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeString(keyHex);
        out.writeString(tenant);
        out.writeBoolean(copy);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        keyHex = in.readString();
        tenant = in.readString();
        copy = in.readBoolean();
    }
}
