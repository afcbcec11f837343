package io.kvasir.kv.block;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.util.List;
import java.util.Map;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class BlockCodecTest {
    static List<BlockLayout> layouts() {
        return List.of(
                BlockLayout.attention(CacheDType.F32, 16, 3, 40),
                BlockLayout.attention(CacheDType.F16, 16, 4, 64),
                BlockLayout.attention(CacheDType.BF16, 8, 2, 24),
                BlockLayout.mla(CacheDType.F32, 16, 3, 32, 8),
                BlockLayout.mla(CacheDType.F16, 4, 5, 20, 6),
                BlockLayout.attention(CacheDType.FP8, 16, 3, 4, 16),
                BlockLayout.attention(CacheDType.INT8, 8, 2, 2, 24),
                BlockLayout.mla(CacheDType.FP8, 16, 2, 32, 8));
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void roundTripIsBitExact(BlockLayout layout) throws Exception {
        KvBlock block = TestBlocks.random("model-a", layout, 7);
        byte[] bytes = BlockCodec.encode(block);
        KvBlock back = BlockCodec.decode(ByteBuffer.wrap(bytes));
        assertEquals(layout, back.layout());
        assertEquals("model-a", back.modelFingerprint());
        for (int c = 0; c < layout.columns(); c++) {
            assertEquals(block.column(c), back.column(c), layout.columnName(c));
        }
        // overhead of the framing beyond the values themselves
        assertTrue(bytes.length - layout.payloadBytes() < 512L * layout.columns(), "framing of " + (bytes.length - layout.payloadBytes()));
    }

    /** A slice of layers is a block of its own: those layers' values, its first layer named, checked on its own. */
    @ParameterizedTest
    @MethodSource("layouts")
    void aSliceOfLayersHoldsExactlyThoseLayers(BlockLayout layout) throws Exception {
        KvBlock block = TestBlocks.random("model-a", layout, 5);
        ByteBuffer whole = ByteBuffer.wrap(BlockCodec.encode(block));
        int from = layout.layers() - 1;
        byte[] bytes = BlockCodec.sliceLayers(whole, from, 1);
        KvBlock slice = BlockCodec.decodeFor(ByteBuffer.wrap(bytes), "model-a", layout.slice(from, 1));
        assertEquals(from, slice.layout().firstLayer());
        for (int c = 0; c < layout.columns(); c++) {
            int perLayer = layout.valuesPerLayer(c) * layout.valueBytes(c);
            assertEquals(block.column(c).slice(from * perLayer, perLayer), slice.column(c), layout.columnName(c));
        }
        // never taken for a whole block, nor for other layers
        assertThrows(BlockFormatException.class, () -> BlockCodec.decodeFor(ByteBuffer.wrap(bytes), "model-a", layout));
        if (from > 0) {
            assertThrows(BlockFormatException.class,
                    () -> BlockCodec.decodeFor(ByteBuffer.wrap(bytes), "model-a", layout.slice(0, 1)));
        }
        assertEquals(Integer.toString(from), BlockCodec.decode(ByteBuffer.wrap(bytes)).layout().firstLayer() + "");
        assertThrows(IllegalArgumentException.class, () -> BlockCodec.sliceLayers(whole, from, 2));
        assertThrows(IllegalArgumentException.class, () -> BlockCodec.sliceLayers(whole, -1, 1));
        bytes[bytes.length - 20] ^= 1;
        assertThrows(BlockFormatException.class, () -> BlockCodec.decode(ByteBuffer.wrap(bytes)));
    }

    /** Arrow's own reader reads our bytes, value for value: the format is plain Arrow IPC. */
    @ParameterizedTest
    @MethodSource("layouts")
    void arrowJavaReadsTheBytes(BlockLayout layout) throws Exception {
        KvBlock block = TestBlocks.random("model-a", layout, 11);
        byte[] bytes = BlockCodec.encode(block);
        try (BufferAllocator allocator = new RootAllocator();
                ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(bytes), allocator)) {
            assertTrue(reader.loadNextBatch());
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            assertEquals(layout.layers(), root.getRowCount());
            assertEquals(layout.dtype().id(), root.getSchema().getCustomMetadata().get(BlockCodec.DTYPE));
            assertEquals(layout.columns(), root.getFieldVectors().size());
            for (int c = 0; c < layout.columns(); c++) {
                FixedSizeListVector list = (FixedSizeListVector) root.getVector(c);
                assertEquals(layout.columnName(c), list.getName());
                BaseFixedWidthVector items = (BaseFixedWidthVector) list.getDataVector();
                assertEquals(0, items.getNullCount());
                byte[] values = new byte[(int) layout.columnBytes(c)];
                items.getDataBuffer().getBytes(0, values);
                assertEquals(block.column(c), ByteBuffer.wrap(values));
            }
            assertEquals(false, reader.loadNextBatch());
        }
    }

    /** And we read what Arrow's writer wrote (validity bitmaps present), given our metadata. */
    @Test
    void readsArrowJavaWriterOutput() throws Exception {
        BlockLayout layout = BlockLayout.attention(CacheDType.F32, 4, 2, 6);
        KvBlock block = TestBlocks.random("m", layout, 3);
        try (BufferAllocator allocator = new RootAllocator();
                VectorSchemaRoot root = VectorSchemaRoot.create(BlockCodec.schema(layout, "m",
                        BlockCodec.checksum(block.column(0), block.column(1))), allocator)) {
            for (int c = 0; c < 2; c++) {
                FixedSizeListVector list = (FixedSizeListVector) root.getVector(c);
                BaseFixedWidthVector items = (BaseFixedWidthVector) list.getDataVector();
                int n = layout.layers() * layout.valuesPerLayer(c);
                items.allocateNew(n);
                byte[] values = new byte[(int) layout.columnBytes(c)];
                block.column(c).get(values);
                items.getDataBuffer().setBytes(0, values);
                for (int i = 0; i < n; i++) {
                    items.setIndexDefined(i);
                }
                items.setValueCount(n);
                for (int row = 0; row < layout.layers(); row++) {
                    list.setNotNull(row);
                }
                list.setValueCount(layout.layers());
            }
            root.setRowCount(layout.layers());
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (ArrowStreamWriter writer = new ArrowStreamWriter(root, null, Channels.newChannel(out))) {
                writer.writeBatch();
            }
            KvBlock back = BlockCodec.decode(ByteBuffer.wrap(out.toByteArray()));
            assertEquals(block.column(0), back.column(0));
            assertEquals(block.column(1), back.column(1));
        }
    }

    @Test
    void flippedValueBitFailsTheChecksum() {
        byte[] bytes = BlockCodec.encode(TestBlocks.random("m", BlockLayout.attention(CacheDType.F16, 16, 2, 8), 1));
        bytes[bytes.length - 20] ^= 1;
        var e = assertThrows(BlockFormatException.class, () -> BlockCodec.decode(ByteBuffer.wrap(bytes)));
        assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
    }

    @Test
    void truncatedOrGarbageBytesAreRejectedWithAReason() {
        byte[] bytes = BlockCodec.encode(TestBlocks.random("m", BlockLayout.attention(CacheDType.F16, 16, 2, 8), 1));
        for (int cut : new int[] {0, 5, 100, bytes.length / 2, bytes.length - 9}) {
            byte[] truncated = java.util.Arrays.copyOf(bytes, cut);
            var e = assertThrows(BlockFormatException.class, () -> BlockCodec.decode(ByteBuffer.wrap(truncated)),
                    "cut at " + cut);
            assertTrue(!e.getMessage().isBlank());
        }
        byte[] garbage = new byte[4096];
        new java.util.Random(5).nextBytes(garbage);
        assertThrows(BlockFormatException.class, () -> BlockCodec.decode(ByteBuffer.wrap(garbage)));
    }

    @Test
    void otherModelOrLayoutIsRefused() throws Exception {
        BlockLayout layout = BlockLayout.attention(CacheDType.F16, 16, 2, 8);
        byte[] bytes = BlockCodec.encode(TestBlocks.random("model-a", layout, 1));
        var e = assertThrows(BlockFormatException.class,
                () -> BlockCodec.decodeFor(ByteBuffer.wrap(bytes), "model-b", layout));
        assertTrue(e.getMessage().contains("model-a"), e.getMessage());
        assertThrows(BlockFormatException.class, () -> BlockCodec.decodeFor(ByteBuffer.wrap(bytes), "model-a",
                BlockLayout.attention(CacheDType.F32, 16, 2, 8)));
        assertEquals(layout, BlockCodec.decodeFor(ByteBuffer.wrap(bytes), "model-a", layout).layout());
    }

    @Test
    void metadataNamesTheBlock() throws Exception {
        BlockLayout layout = BlockLayout.mla(CacheDType.BF16, 16, 2, 8, 4);
        byte[] bytes = BlockCodec.encode(TestBlocks.random("fp", layout, 1));
        try (BufferAllocator allocator = new RootAllocator();
                ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(bytes), allocator)) {
            Map<String, String> meta = reader.getVectorSchemaRoot().getSchema().getCustomMetadata();
            assertEquals("fp", meta.get(BlockCodec.MODEL));
            assertEquals("mla", meta.get(BlockCodec.KIND));
            assertEquals("bf16", meta.get(BlockCodec.DTYPE));
            assertEquals("16", meta.get(BlockCodec.BLOCK_TOKENS));
            assertEquals("1", meta.get(BlockCodec.LAYOUT_VERSION));
            assertTrue(meta.get(BlockCodec.CHECKSUM).startsWith("crc32c:"));
            assertEquals(List.of("latent", "rope_k"),
                    reader.getVectorSchemaRoot().getSchema().getFields().stream().map(f -> f.getName()).toList());
        }
    }
}
