package io.kvasir.cuda;

import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import jcuda.Pointer;
import jcuda.driver.CUstream;

/**
 * The device-memory KV tier: the GPU's paged KV pool, whose blocks are either in use by a sequence
 * or cached under their block key (least recently used first out). A block's K and V are laid out
 * as the KV store's block columns, so blocks come in from the host tier or store and go back out
 * as they are: through pinned staging buffers, on a copy stream of their own (compute keeps its
 * stream). A cached block evicted for room goes to {@code onEvict} (the host tier), never lost.
 *
 * <p>Not thread-safe: one step loop owns it, as it owns the model.
 */
public final class DeviceKvTier implements AutoCloseable {
    /** A block leaving device memory: its key and its K and V columns (store layout). */
    public record Evicted(Object key, float[] k, float[] v) {
    }

    private final CudaKernels.KvGeometry geometry;
    private final DeviceBuffer kPool;
    private final DeviceBuffer vPool;
    private final long blockFloats;
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private final int[] refs;
    private final LinkedHashMap<Object, Integer> cached = new LinkedHashMap<>(64, 0.75f, true);
    private final Map<Integer, Object> keyOf = new HashMap<>();
    private final Consumer<Evicted> onEvict;
    private final CUstream copies = new CUstream();
    private final Pointer staging = new Pointer();

    /** {@code capacity} blocks of {@code geometry} in device memory. */
    public DeviceKvTier(CudaKernels.KvGeometry geometry, int capacity, Consumer<Evicted> onEvict) {
        this.geometry = geometry;
        this.onEvict = onEvict;
        this.blockFloats = (long) geometry.layers() * geometry.blockSize() * geometry.kvHeads() * geometry.headDim();
        this.kPool = new DeviceBuffer(4 * blockFloats * capacity);
        this.vPool = new DeviceBuffer(4 * blockFloats * capacity);
        this.refs = new int[capacity];
        for (int b = 0; b < capacity; b++) {
            free.add(b);
        }
        cuStreamCreate(copies, 0);
        cuMemAllocHost(staging, 4 * blockFloats);
    }

    CudaKernels.KvGeometry geometry() {
        return geometry;
    }

    DeviceBuffer kPool() {
        return kPool;
    }

    DeviceBuffer vPool() {
        return vPool;
    }

    /** A block for a sequence (reference count 1): a free one, else the least recently used cached one, evicted. */
    public int allocate() {
        if (free.isEmpty()) {
            evictOne();
        }
        int block = free.poll();
        refs[block] = 1;
        return block;
    }

    /** A sequence is done with {@code block}; it stays cached if it has a key, else it is free again. */
    public void release(int block) {
        if (--refs[block] == 0 && !keyOf.containsKey(block)) {
            free.add(block);
        }
    }

    /** Keeps {@code block} (a full block of a finished sequence) under {@code key} for later prompts. */
    public void cache(Object key, int block) {
        Integer old = cached.putIfAbsent(key, block);
        if (old == null) {
            keyOf.put(block, key);
        }
    }

    /** The device blocks of the longest leading run of {@code keys} held here, each referenced once more. */
    public int[] lookup(List<?> keys) {
        int[] run = new int[keys.size()];
        int n = 0;
        for (Object key : keys) {
            Integer block = cached.get(key);
            if (block == null) {
                break;
            }
            refs[block]++;
            run[n++] = block;
        }
        return java.util.Arrays.copyOf(run, n);
    }

    /** Brings a block from the host tier or store in under {@code key} (reference count 1); waits for the copy. */
    public int importBlock(Object key, float[] k, float[] v) {
        if (k.length != blockFloats || v.length != blockFloats) {
            throw new IllegalArgumentException("a block of this model has " + blockFloats + " K and V floats, got "
                    + k.length + " and " + v.length);
        }
        int block = allocate();
        upload(k, kPool, block);
        upload(v, vPool, block);
        cache(key, block);
        return block;
    }

    private void upload(float[] values, DeviceBuffer pool, int block) {
        FloatBuffer host = staging.getByteBuffer(0, 4 * blockFloats).order(ByteOrder.nativeOrder()).asFloatBuffer();
        host.put(values);
        cuMemcpyHtoDAsync(pool.ptr.withByteOffset(4 * blockFloats * block), staging, 4 * blockFloats, copies);
        cuStreamSynchronize(copies); // the staging buffer is reused next; the block is ready for compute
    }

    private float[] download(DeviceBuffer pool, int block) {
        cuMemcpyDtoHAsync(staging, pool.ptr.withByteOffset(4 * blockFloats * block), 4 * blockFloats, copies);
        cuStreamSynchronize(copies);
        float[] out = new float[(int) blockFloats];
        staging.getByteBuffer(0, 4 * blockFloats).order(ByteOrder.nativeOrder()).asFloatBuffer().get(out);
        return out;
    }

    private void evictOne() {
        Iterator<Map.Entry<Object, Integer>> it = cached.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Object, Integer> e = it.next();
            int block = e.getValue();
            if (refs[block] == 0) {
                Evicted out = export(block); // while the block still has its key
                it.remove();
                keyOf.remove(block);
                onEvict.accept(out);
                free.add(block);
                return;
            }
        }
        throw new IllegalStateException("every device KV block is in use by a sequence: no room");
    }

    /** A copy of {@code block}'s K and V (store layout) and its key if cached, e.g. to put it into the KV store. */
    public Evicted export(int block) {
        return new Evicted(keyOf.get(block), download(kPool, block), download(vPool, block));
    }

    /** Blocks cached (in use or not). */
    public int cachedBlocks() {
        return cached.size();
    }

    @Override
    public void close() {
        cuMemFreeHost(staging);
        cuStreamDestroy(copies);
        kPool.close();
        vPool.close();
    }
}
