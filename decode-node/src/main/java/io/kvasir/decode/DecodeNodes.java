package io.kvasir.decode;

import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.kv.client.KvStoreClient;

/** Wiring: a decode engine backed by the KV store. */
public final class DecodeNodes {
    private DecodeNodes() {
    }

    /** The KV store as the prefix cache of {@code model}, with blocks of {@code blockSize} tokens. */
    public static StorePrefixCache storeCache(KvStoreClient store, Model model, int blockSize) {
        String fingerprint = ModelFingerprint.of(model);
        return new StorePrefixCache(store, new EngineBlocks(model.transformer().config(), fingerprint, blockSize),
                fingerprint, blockSize);
    }
}
