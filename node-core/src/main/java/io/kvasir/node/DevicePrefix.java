package io.kvasir.node;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import io.kvasir.cuda.CudaLlamaModel;
import io.kvasir.cuda.DeviceKvTier;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.kv.block.BlockKey;

/**
 * Moving a GPU node's blocks between its device KV tier and the KV store, for both node roles. In:
 * a prompt's cached prefix from the device tier when it holds it (a reference, no copy), else from
 * the store through a host staging pool. Out: a sequence's new full blocks to the store (device →
 * host → Arrow, the store's own encoding) and into the device tier under their keys.
 */
public final class DevicePrefix {
    /**
     * The device blocks (referenced once each, for the sequence) holding the first {@code tokens}
     * tokens: found in the device tier, or read from the store ({@code fromSsd} of them from its SSD tier).
     */
    public record Loaded(int[] blocks, int tokens, boolean onDevice, int fromSsd) {
    }

    private final DeviceKvTier tier;
    private final StorePrefixCache cache;
    private final KvBlockPool staging;
    private final int blockSize;
    private final int blockFloats;

    /** {@code staging}: a host pool of the model's layout, big enough for one prompt's blocks. */
    public DevicePrefix(DeviceKvTier tier, StorePrefixCache cache, KvBlockPool staging, int blockSize, int blockFloats) {
        if (cache.type() != KvCacheType.F32 || staging.type() != KvCacheType.F32) {
            throw new IllegalArgumentException("a GPU node keeps its KV cache in f32 (--kv-cache-dtype f32 or auto), not "
                    + cache.type().id());
        }
        this.tier = tier;
        this.cache = cache;
        this.staging = staging;
        this.blockSize = blockSize;
        this.blockFloats = blockFloats;
    }

    /** The cached prefix of {@code tokens[0, limit)} for {@code owner}, on the device. */
    public Loaded load(String owner, int[] tokens, int limit) {
        List<BlockKey> keys = cache.chain().keys(owner, tokens, limit);
        int[] onDevice = tier.lookup(keys);
        if (onDevice.length > 0) {
            return new Loaded(onDevice, onDevice.length * blockSize, true, 0);
        }
        BlockTable host = new BlockTable(staging);
        try {
            PrefixCache.Loaded found = cache.load(owner, keys, host);
            int loaded = found.tokens();
            int[] blocks = new int[loaded / blockSize];
            ByteBuffer k = floats(blockFloats), v = floats(blockFloats);
            float[] kf = new float[blockFloats], vf = new float[blockFloats];
            for (int b = 0; b < blocks.length; b++) {
                staging.exportBlock(host.blockId(b), k.clear(), v.clear());
                k.asFloatBuffer().get(kf);
                v.asFloatBuffer().get(vf);
                blocks[b] = tier.importBlock(keys.get(b), kf, vf);
            }
            return new Loaded(blocks, loaded, false, found.fromSsd());
        } finally {
            host.release();
        }
    }

    /**
     * Puts full blocks {@code [from, to)} of {@code seq} (holding {@code tokens}) into the store,
     * then ends the sequence, caching all its full blocks on the device under their keys.
     */
    public void storeAndFinish(String owner, int[] tokens, CudaLlamaModel.Sequence seq, int from, int to) {
        List<BlockKey> keys = cache.chain().keys(owner, tokens, to * blockSize);
        BlockTable host = new BlockTable(staging);
        try {
            host.reserve(to * blockSize);
            ByteBuffer k = floats(blockFloats), v = floats(blockFloats);
            for (int b = from; b < to; b++) {
                DeviceKvTier.Evicted copy = tier.export(seq.block(b));
                k.asFloatBuffer().put(copy.k());
                v.asFloatBuffer().put(copy.v());
                staging.importBlock(host.blockId(b), k, v);
            }
            host.setNumTokens(to * blockSize);
            cache.store(owner, keys, host, from, to);
        } finally {
            host.release();
        }
        seq.finish(keys);
    }

    private static ByteBuffer floats(int n) {
        return ByteBuffer.allocate(n * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    }
}
