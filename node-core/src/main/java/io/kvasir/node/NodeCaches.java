package io.kvasir.node;

import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.kv.client.KvStoreClient;

/** Wiring: the KV store as a node's prefix cache. */
public final class NodeCaches {
    private NodeCaches() {
    }

    /** The KV store as the prefix cache of {@code model}, with blocks of {@code blockSize} tokens. */
    public static StorePrefixCache storeCache(KvStoreClient store, Model model, int blockSize) {
        String fingerprint = ModelFingerprint.of(model);
        return new StorePrefixCache(store, new EngineBlocks(model.transformer().config(), fingerprint, blockSize),
                fingerprint, blockSize);
    }
}
