package io.kvasir.node;

import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.kv.client.KvStoreClient;

/** Wiring: the KV store as a node's prefix cache. */
public final class NodeCaches {
    private NodeCaches() {
    }

    /** The KV store as the prefix cache of {@code model}, with blocks of {@code blockSize} tokens of {@code type}. */
    public static StorePrefixCache storeCache(KvStoreClient store, Model model, int blockSize, KvCacheType type) {
        return storeCache(store, model, blockSize, type, CacheSalts.plain());
    }

    /** As {@link #storeCache(KvStoreClient, Model, int, KvCacheType)}, with keys salted by {@code salts}. */
    public static StorePrefixCache storeCache(KvStoreClient store, Model model, int blockSize, KvCacheType type,
            CacheSalts salts) {
        String fingerprint = ModelFingerprint.of(model);
        return new StorePrefixCache(store, new EngineBlocks(model.transformer().config(), fingerprint, blockSize, type),
                new BlockKeyChain(fingerprint, type, blockSize, salts));
    }
}
