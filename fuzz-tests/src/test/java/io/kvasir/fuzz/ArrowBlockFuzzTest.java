package io.kvasir.fuzz;

import java.nio.ByteBuffer;

import com.code_intelligence.jazzer.junit.FuzzTest;

import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.KvBlock;

/**
 * KV blocks as a member or a node reads them from a peer, a client or a disk: any bytes either
 * decode to a block whose columns lie inside them or are refused with a {@link BlockFormatException};
 * nothing else escapes (no out-of-bounds read, no allocation sized by a field, no hang).
 */
class ArrowBlockFuzzTest {
    @FuzzTest(maxExecutions = 10_000)
    void blocksDecodeOrAreRefused(byte[] bytes) {
        KvBlock block;
        try {
            block = BlockCodec.decode(ByteBuffer.wrap(bytes));
        } catch (BlockFormatException e) {
            return;
        }
        for (int c = 0; c < block.layout().columns(); c++) {
            if (block.column(c).remaining() != block.layout().columnBytes(c)) {
                throw new AssertionError("column " + c + " of a decoded block has the wrong size");
            }
        }
        // a member slices what it stored; a slice of a good block is a good block
        try {
            BlockCodec.decode(ByteBuffer.wrap(BlockCodec.sliceLayers(ByteBuffer.wrap(bytes), 0, 1)));
        } catch (BlockFormatException e) {
            throw new AssertionError("a slice of a block that decoded does not decode: " + e.getMessage(), e);
        }
    }
}
