package io.kvasir.kv.store;

import java.io.IOException;
import java.util.concurrent.Callable;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.HazelcastInstanceAware;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import io.kvasir.kv.block.BlockKey;

/** Runs on the member whose SSD holds a block: reads and verifies it there, returns its bytes or null. */
final class ReadSsdTask implements Callable<byte[]>, IdentifiedDataSerializable, HazelcastInstanceAware {
    static final String SSD_CONTEXT_KEY = "kvasir.ssd";

    private String keyHex;
    private String tenant;
    private transient HazelcastInstance hz;

    ReadSsdTask() {
    }

    ReadSsdTask(BlockKey key, String tenant) {
        this.keyHex = key.hex();
        this.tenant = tenant;
    }

    @Override
    public byte[] call() {
        Object ssd = hz.getUserContext().get(SSD_CONTEXT_KEY);
        if (!(ssd instanceof SsdTier tier)) {
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
        return KvSerialization.READ_SSD_TASK;
    }

    @Override
    public void writeData(ObjectDataOutput out) throws IOException {
        out.writeString(keyHex);
        out.writeString(tenant);
    }

    @Override
    public void readData(ObjectDataInput in) throws IOException {
        keyHex = in.readString();
        tenant = in.readString();
    }
}
