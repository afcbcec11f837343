package io.kvasir.node;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;

/**
 * The block keys of one model's prompts: every role derives the same ones (router to look up, nodes
 * to load and store). The tenant's salt is its id: keys of different tenants never meet, and the
 * store refuses one tenant another's blocks besides.
 */
public record BlockKeyChain(String modelFingerprint, int blockSize) {
    /** Keys of the full blocks of {@code tokens[0, limit)}. */
    public List<BlockKey> keys(String tenant, int[] tokens, int limit) {
        BlockKey root = BlockKeys.root(modelFingerprint, BlockLayout.VERSION, tenant.getBytes(StandardCharsets.UTF_8));
        return BlockKeys.chain(root, Arrays.copyOf(tokens, limit), blockSize);
    }
}
