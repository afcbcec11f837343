package io.kvasir.node;

import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.cuda.CudaLlamaModel;
import io.kvasir.engine.loop.BlockManager;
import io.kvasir.engine.loop.EngineLoop;

/**
 * Sequences' KV on a GPU: the device KV tier holds running sequences and, under their keys, the
 * blocks of finished ones; a prompt's cached prefix comes from that tier or the store
 * ({@link DevicePrefix}), and a finished sequence's new full blocks go to both. Blocks the tier
 * evicts are in the store already, so eviction only forgets them there.
 */
public final class DeviceBlockManager implements BlockManager<DeviceBlockManager.Kv> {
    private static final Logger LOG = Logger.getLogger(DeviceBlockManager.class.getName());

    /** One sequence's KV: its sequence on the device. */
    public static final class Kv {
        private final CudaLlamaModel.Sequence sequence;
        private int reserved;
        private int storedFrom;

        private Kv(CudaLlamaModel.Sequence sequence) {
            this.sequence = sequence;
        }

        public CudaLlamaModel.Sequence sequence() {
            return sequence;
        }
    }

    private final CudaLlamaModel gpu;
    private final DevicePrefix prefix;
    private final int blockSize;
    private final int capacity;
    private volatile int reserved;

    /** {@code capacity}: the device tier's blocks. */
    public DeviceBlockManager(CudaLlamaModel gpu, DevicePrefix prefix, int blockSize, int capacity) {
        this.gpu = gpu;
        this.prefix = prefix;
        this.blockSize = blockSize;
        this.capacity = capacity;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public long totalBlocks() {
        return capacity;
    }

    @Override
    public long freeBlocks() {
        return capacity - reserved;
    }

    @Override
    public Kv open(EngineLoop.Request request) {
        return new Kv(gpu.newSequence());
    }

    @Override
    public boolean reserve(Kv kv, EngineLoop.Request request, int blocksNeeded) {
        if (reserved + blocksNeeded > capacity) {
            return false;
        }
        kv.reserved = blocksNeeded;
        reserved += blocksNeeded;
        return true;
    }

    @Override
    public Prefix loadPrefix(Kv kv, EngineLoop.Request request, int limit) {
        DevicePrefix.Loaded cached = prefix.load(request.cacheOwner(), request.prompt(), limit);
        kv.sequence.startFrom(cached.blocks(), cached.tokens());
        kv.storedFrom = cached.tokens() / blockSize;
        return new Prefix(cached.tokens(), cached.onDevice() ? cached.tokens() : 0, cached.fromSsd());
    }

    /** Its new full blocks to the store and the device tier (a failed sequence's are only released). */
    @Override
    public void finish(Kv kv, EngineLoop.Request request, int[] tokens, boolean keep) {
        try {
            if (keep) {
                prefix.storeAndFinish(request.cacheOwner(), tokens, kv.sequence, kv.storedFrom,
                        kv.sequence.length() / blockSize);
            } else {
                kv.sequence.release();
            }
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "could not hand blocks to the store", e);
            kv.sequence.release();
        } finally {
            reserved -= kv.reserved;
        }
    }
}
