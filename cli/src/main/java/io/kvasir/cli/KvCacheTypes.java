package io.kvasir.cli;

import io.kvasir.engine.Model;
import io.kvasir.engine.kv.KvCacheType;

/** {@code --kv-cache-dtype auto|f32|f16|bf16|fp8|int8}, the same on every command. */
final class KvCacheTypes {
    static final String USAGE = """
              --kv-cache-dtype auto|f32|f16|bf16|fp8|int8: the precision K/V are kept, shipped and stored in
              (auto: the weights' dtype for F16/BF16 models, else f16; f32 on a GPU; fp8 is E4M3, fp8 and int8
              carry a scale per head and token). Every role of a cluster needs the same.""";

    private KvCacheTypes() {
    }

    static KvCacheType of(String command, String id, Model model) {
        try {
            return model.transformer().kvCacheType(id);
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(command + ": --kv-cache-dtype: " + e.getMessage());
        }
    }
}
