package io.kvasir.kv.block;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

import org.apache.arrow.flatbuf.Message;
import org.apache.arrow.flatbuf.MessageHeader;
import org.apache.arrow.flatbuf.RecordBatch;
import org.apache.arrow.vector.ipc.WriteChannel;
import org.apache.arrow.vector.ipc.message.IpcOption;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

import com.google.flatbuffers.FlatBufferBuilder;

/**
 * A KV block as one Arrow IPC stream: a schema message, one record batch, end-of-stream. The same
 * bytes go on the wire and on disk, and any Arrow reader (pyarrow's {@code ipc.open_stream}, Arrow
 * Java's {@code ArrowStreamReader}) reads them.
 *
 * <p>The batch has one row per layer and two columns ({@code k}/{@code v}, or {@code latent}/{@code
 * rope_k} for MLA), each a fixed-size list of {@code tokens × width} values; fp8 and int8 blocks add
 * {@code k_scale}/{@code v_scale} (f32, {@code tokens × groups}). The schema metadata carries model
 * fingerprint, layout version, kind, dtype, block size, layer count and a CRC32C of every column's
 * values, which {@link #decode} verifies on every read.
 *
 * <p>Why hand-framed rather than {@code ArrowStreamWriter}/{@code Reader}: those copy every value
 * into Arrow-allocated buffers on both sides and write a validity bitmap although a block has no
 * nulls (6% more bytes for f16). Here encoding copies each value once, straight into the message,
 * with validity buffers elided (legal when null_count is 0), and decoding copies nothing: the
 * columns are views of the input bytes. The framing is the Arrow IPC format itself, built with
 * Arrow's own flatbuffer classes.
 */
public final class BlockCodec {
    public static final String MODEL = "kvasir.model";
    public static final String LAYOUT_VERSION = "kvasir.layout_version";
    public static final String KIND = "kvasir.kind";
    public static final String DTYPE = "kvasir.dtype";
    public static final String BLOCK_TOKENS = "kvasir.block_tokens";
    public static final String LAYERS = "kvasir.layers";
    /** The model layer a slice's first row holds; absent in a whole block (whose rows start at layer 0). */
    public static final String FIRST_LAYER = "kvasir.first_layer";
    public static final String CHECKSUM = "kvasir.checksum";

    private static final int CONTINUATION = 0xFFFFFFFF;
    private static final int ALIGNMENT = 8;

    private BlockCodec() {
    }

    /** The block as Arrow IPC stream bytes. */
    public static byte[] encode(KvBlock block) {
        return encode(block.modelFingerprint(), block.layout(), columns -> {
            for (int c = 0; c < columns.length; c++) {
                columns[c].put(block.column(c));
            }
        });
    }

    /**
     * A block as Arrow IPC stream bytes, its columns written by {@code fill} straight into the
     * message (little-endian buffers of exactly {@link BlockLayout#columnBytes} each): the values
     * are copied once, from wherever they live into the bytes that go on the wire.
     */
    public static byte[] encode(String model, BlockLayout layout, Consumer<ByteBuffer[]> fill) {
        int n = layout.columns();
        // the checksum has a fixed width, so the schema's length is known before the values are
        byte[] schema = schemaMessage(schema(layout, model, checksum()));
        long[] offsets = new long[n];
        long bodyLength = 0;
        for (int c = 0; c < n; c++) {
            offsets[c] = bodyLength;
            bodyLength += padded(layout.columnBytes(c));
        }
        byte[] batchHeader = recordBatchMessage(layout, offsets, bodyLength);
        long total = schema.length + batchHeader.length + bodyLength + 8;
        if (total > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("block of " + total + " bytes is too large for one message");
        }
        byte[] out = new byte[(int) total];
        ByteBuffer buf = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        int body = schema.length + batchHeader.length;
        ByteBuffer[] columns = new ByteBuffer[n];
        ByteBuffer[] forFill = new ByteBuffer[n];
        for (int c = 0; c < n; c++) {
            columns[c] = buf.slice(body + (int) offsets[c], (int) layout.columnBytes(c)).order(ByteOrder.LITTLE_ENDIAN);
            forFill[c] = columns[c].duplicate().order(ByteOrder.LITTLE_ENDIAN);
        }
        fill.accept(forFill);
        byte[] finalSchema = schemaMessage(schema(layout, model, checksum(columns)));
        if (finalSchema.length != schema.length) {
            throw new AssertionError("schema length changed with its checksum");
        }
        buf.put(finalSchema).put(batchHeader);
        buf.position(body + (int) bodyLength);
        buf.putInt(CONTINUATION).putInt(0); // end of stream
        return out;
    }

    /** Decodes and verifies a block; its columns are views of {@code bytes} (no copy). */
    public static KvBlock decode(ByteBuffer bytes) throws BlockFormatException {
        return decode(bytes, true);
    }

    /**
     * Layers {@code [from, from + count)} of a block (counted within it) as a block of their own, with
     * their own checksum: what a member sends a reader that starts computing on the first layers while
     * the rest travel. The block's checksum is not verified again (the member verified it when it took
     * the block in, from a client or its SSD); the slice's protects the way to the reader.
     *
     * @throws IllegalArgumentException the layers are not all in the block
     */
    public static byte[] sliceLayers(ByteBuffer block, int from, int count) throws BlockFormatException {
        KvBlock whole = decode(block, false);
        BlockLayout layout = whole.layout();
        BlockLayout slice = layout.slice(from, count);
        return encode(whole.modelFingerprint(), slice, columns -> {
            for (int c = 0; c < columns.length; c++) {
                int perLayer = layout.valuesPerLayer(c) * layout.valueBytes(c);
                columns[c].put(whole.column(c).slice(from * perLayer, count * perLayer));
            }
        });
    }

    private static KvBlock decode(ByteBuffer bytes, boolean verify) throws BlockFormatException {
        try {
            return parse(bytes, verify);
        } catch (IndexOutOfBoundsException | java.nio.BufferUnderflowException | IllegalArgumentException
                | IllegalStateException | NegativeArraySizeException | ArithmeticException e) {
            // a flatbuffer's offsets are the sender's: reading a malformed one runs off its bytes
            throw new BlockFormatException("malformed Arrow message: " + e, e);
        }
    }

    private static KvBlock parse(ByteBuffer bytes, boolean verify) throws BlockFormatException {
        ByteBuffer in = bytes.slice().order(ByteOrder.LITTLE_ENDIAN);
        Message schemaMessage = nextMessage(in, "schema");
        if (schemaMessage.headerType() != MessageHeader.Schema) {
            throw new BlockFormatException("first Arrow message is not a schema (header type "
                    + schemaMessage.headerType() + ")");
        }
        skipBody(in, schemaMessage);
        Schema schema;
        try {
            schema = MessageSerializer.deserializeSchema(schemaMessage);
        } catch (RuntimeException e) {
            throw new BlockFormatException("unreadable Arrow schema: " + e.getMessage(), e);
        }
        Map<String, String> meta = schema.getCustomMetadata();
        BlockLayout layout = layoutOf(schema);

        Message batchMessage = nextMessage(in, "record batch");
        if (batchMessage.headerType() != MessageHeader.RecordBatch) {
            throw new BlockFormatException("second Arrow message is not a record batch (header type "
                    + batchMessage.headerType() + ")");
        }
        long bodyLength = batchMessage.bodyLength();
        if (bodyLength < 0 || bodyLength > in.remaining()) {
            throw new BlockFormatException("record batch body of " + bodyLength + " bytes but only " + in.remaining()
                    + " bytes follow (truncated?)");
        }
        ByteBuffer body = in.slice(in.position(), (int) bodyLength).order(ByteOrder.LITTLE_ENDIAN);
        RecordBatch batch = (RecordBatch) batchMessage.header(new RecordBatch());
        ByteBuffer[] columns = new ByteBuffer[layout.columns()];
        for (int c = 0; c < columns.length; c++) {
            columns[c] = column(batch, body, layout, c);
        }
        String expected = meta.get(CHECKSUM);
        String actual = verify ? checksum(columns) : expected;
        if (actual == null || !actual.equals(expected)) {
            throw new BlockFormatException("checksum mismatch: metadata says " + expected + ", values hash to " + actual);
        }
        return new KvBlock(require(meta, MODEL), layout, List.of(columns));
    }

    /**
     * Decodes a block a node is about to use and checks it was written for the same model and
     * layout; anything else is a {@link BlockFormatException} (the caller treats it as a miss).
     */
    public static KvBlock decodeFor(ByteBuffer bytes, String modelFingerprint, BlockLayout layout)
            throws BlockFormatException {
        KvBlock block = decode(bytes);
        if (!block.modelFingerprint().equals(modelFingerprint)) {
            throw new BlockFormatException("block was written for model " + block.modelFingerprint()
                    + ", expected " + modelFingerprint);
        }
        if (!block.layout().equals(layout)) {
            throw new BlockFormatException("block layout " + block.layout() + " differs from expected " + layout);
        }
        return block;
    }

    static Schema schema(BlockLayout layout, String model, String checksum) {
        Map<String, String> meta = new HashMap<>();
        meta.put(MODEL, model);
        meta.put(LAYOUT_VERSION, Integer.toString(BlockLayout.VERSION));
        meta.put(KIND, layout.kind().name().toLowerCase(java.util.Locale.ROOT));
        meta.put(DTYPE, layout.dtype().id());
        meta.put(BLOCK_TOKENS, Integer.toString(layout.tokens()));
        meta.put(LAYERS, Integer.toString(layout.layers()));
        if (layout.firstLayer() > 0) {
            meta.put(FIRST_LAYER, Integer.toString(layout.firstLayer()));
        }
        meta.put(CHECKSUM, checksum);
        List<Field> fields = new ArrayList<>();
        for (int c = 0; c < layout.columns(); c++) {
            fields.add(listField(layout.columnName(c), layout.valuesPerLayer(c), itemType(layout, c)));
        }
        return new Schema(fields, meta);
    }

    /** The Arrow type of a column's values: the dtype's (int bits where Arrow has none), f32 for scales. */
    private static ArrowType itemType(BlockLayout layout, int column) {
        if (column >= 2) {
            return new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
        }
        return switch (layout.dtype()) {
            case F32 -> new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE);
            case F16 -> new ArrowType.FloatingPoint(FloatingPointPrecision.HALF);
            case BF16 -> new ArrowType.Int(16, true);
            case FP8 -> new ArrowType.Int(8, false);
            case INT8 -> new ArrowType.Int(8, true);
        };
    }

    private static Field listField(String name, int size, ArrowType item) {
        Field child = new Field("item", FieldType.notNullable(item), null);
        return new Field(name, FieldType.notNullable(new ArrowType.FixedSizeList(size)), List.of(child));
    }

    private static byte[] schemaMessage(Schema schema) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(512);
        try {
            MessageSerializer.serialize(new WriteChannel(Channels.newChannel(out)), schema);
        } catch (IOException e) {
            throw new AssertionError("writing to memory cannot fail", e);
        }
        return out.toByteArray();
    }

    /** Record batch metadata: per column a list node and an item node; buffers list-validity, item-validity, values. */
    private static byte[] recordBatchMessage(BlockLayout layout, long[] offsets, long bodyLength) {
        int n = layout.columns();
        FlatBufferBuilder fb = new FlatBufferBuilder(256);
        RecordBatch.startNodesVector(fb, 2 * n); // structs go in reverse order
        for (int c = n - 1; c >= 0; c--) {
            org.apache.arrow.flatbuf.FieldNode.createFieldNode(fb, (long) layout.layers() * layout.valuesPerLayer(c), 0);
            org.apache.arrow.flatbuf.FieldNode.createFieldNode(fb, layout.layers(), 0);
        }
        int nodes = fb.endVector();
        RecordBatch.startBuffersVector(fb, 3 * n);
        for (int c = n - 1; c >= 0; c--) {
            org.apache.arrow.flatbuf.Buffer.createBuffer(fb, offsets[c], layout.columnBytes(c));
            org.apache.arrow.flatbuf.Buffer.createBuffer(fb, offsets[c], 0);
            org.apache.arrow.flatbuf.Buffer.createBuffer(fb, offsets[c], 0);
        }
        int buffers = fb.endVector();
        RecordBatch.startRecordBatch(fb);
        RecordBatch.addLength(fb, layout.layers());
        RecordBatch.addNodes(fb, nodes);
        RecordBatch.addBuffers(fb, buffers);
        int batch = RecordBatch.endRecordBatch(fb);
        ByteBuffer message = MessageSerializer.serializeMessage(fb, MessageHeader.RecordBatch, batch, bodyLength,
                IpcOption.DEFAULT);
        ByteArrayOutputStream out = new ByteArrayOutputStream(message.remaining() + 16);
        try {
            MessageSerializer.writeMessageBuffer(new WriteChannel(Channels.newChannel(out)), message.remaining(), message);
        } catch (IOException e) {
            throw new AssertionError("writing to memory cannot fail", e);
        }
        return out.toByteArray();
    }

    private static Message nextMessage(ByteBuffer in, String what) throws BlockFormatException {
        if (in.remaining() < 8) {
            throw new BlockFormatException("truncated block: no " + what + " message (" + in.remaining() + " bytes left)");
        }
        int length = in.getInt();
        if (length == CONTINUATION) {
            length = in.getInt();
        }
        if (length <= 0 || length > in.remaining()) {
            throw new BlockFormatException("bad " + what + " message length " + length + " (" + in.remaining()
                    + " bytes left)");
        }
        ByteBuffer metadata = in.slice(in.position(), length).order(ByteOrder.LITTLE_ENDIAN);
        in.position(in.position() + length);
        try {
            return Message.getRootAsMessage(metadata);
        } catch (RuntimeException e) {
            throw new BlockFormatException("unreadable " + what + " message: " + e, e);
        }
    }

    private static void skipBody(ByteBuffer in, Message message) throws BlockFormatException {
        long body = message.bodyLength();
        if (body < 0 || body > in.remaining()) {
            throw new BlockFormatException("message body of " + body + " bytes overruns the block");
        }
        in.position(in.position() + (int) body);
    }

    private static ByteBuffer column(RecordBatch batch, ByteBuffer body, BlockLayout layout, int column)
            throws BlockFormatException {
        if (batch.compression() != null) {
            throw new BlockFormatException("compressed record batches are not supported");
        }
        int n = layout.columns();
        if (batch.length() != layout.layers() || batch.nodesLength() != 2 * n || batch.buffersLength() != 3 * n) {
            throw new BlockFormatException("record batch has " + batch.length() + " rows, " + batch.nodesLength()
                    + " nodes, " + batch.buffersLength() + " buffers; expected " + layout.layers() + ", " + 2 * n + ", "
                    + 3 * n);
        }
        String name = layout.columnName(column);
        long values = (long) layout.layers() * layout.valuesPerLayer(column);
        var listNode = batch.nodes(2 * column);
        var itemNode = batch.nodes(2 * column + 1);
        if (listNode.length() != layout.layers() || itemNode.length() != values || listNode.nullCount() != 0
                || itemNode.nullCount() != 0) {
            throw new BlockFormatException("column " + name + ": " + itemNode.length() + " values with "
                    + (listNode.nullCount() + itemNode.nullCount()) + " nulls; expected " + values + " and none");
        }
        var data = batch.buffers(3 * column + 2);
        long expected = layout.columnBytes(column);
        if (data.length() < expected || data.offset() < 0 || data.offset() + expected > body.limit()) {
            throw new BlockFormatException("column " + name + ": values buffer [" + data.offset() + ", +" + data.length()
                    + ") does not hold " + expected + " bytes inside a body of " + body.limit());
        }
        return body.slice((int) data.offset(), (int) expected).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The layout a schema describes: kind, dtype and sizes from the metadata, widths from the list sizes. */
    private static BlockLayout layoutOf(Schema schema) throws BlockFormatException {
        Map<String, String> meta = schema.getCustomMetadata();
        String version = require(meta, LAYOUT_VERSION);
        if (!version.equals(Integer.toString(BlockLayout.VERSION))) {
            throw new BlockFormatException("block layout version " + version + ", this build reads "
                    + BlockLayout.VERSION);
        }
        BlockLayout.Kind kind;
        CacheDType dtype;
        int tokens;
        int layers;
        int firstLayer;
        try {
            kind = BlockLayout.Kind.valueOf(require(meta, KIND).toUpperCase(java.util.Locale.ROOT));
            dtype = CacheDType.fromId(require(meta, DTYPE));
            tokens = Integer.parseInt(require(meta, BLOCK_TOKENS));
            layers = Integer.parseInt(require(meta, LAYERS));
            firstLayer = Integer.parseInt(meta.getOrDefault(FIRST_LAYER, "0"));
        } catch (IllegalArgumentException e) {
            throw new BlockFormatException("bad block metadata: " + e.getMessage(), e);
        }
        if (tokens <= 0 || layers <= 0 || firstLayer < 0) {
            throw new BlockFormatException("bad block metadata: " + tokens + " tokens, " + layers + " layers from layer "
                    + firstLayer);
        }
        List<Field> fields = schema.getFields();
        int expected = dtype.scaled() ? 4 : 2;
        if (fields.size() != expected) {
            throw new BlockFormatException("a " + dtype.id() + " block schema has " + fields.size() + " columns, expected "
                    + expected);
        }
        int first = width(fields.get(0), kind.firstColumn(), dtype, tokens);
        int second = width(fields.get(1), kind.secondColumn(), dtype, tokens);
        int groups = 1;
        if (dtype.scaled()) {
            groups = width(fields.get(2), kind.firstColumn() + "_scale", CacheDType.F32, tokens);
            if (width(fields.get(3), kind.secondColumn() + "_scale", CacheDType.F32, tokens) != groups) {
                throw new BlockFormatException("block scale columns disagree on their groups");
            }
        }
        try {
            return new BlockLayout(kind, dtype, tokens, layers, first, second, groups, firstLayer);
        } catch (IllegalArgumentException e) {
            throw new BlockFormatException("bad block shape: " + e.getMessage(), e);
        }
    }

    /** Values per token of a column, after checking its name and item type ({@code dtype}'s). */
    private static int width(Field field, String name, CacheDType dtype, int tokens) throws BlockFormatException {
        if (!field.getName().equals(name) || !(field.getType() instanceof ArrowType.FixedSizeList list)
                || field.getChildren().size() != 1) {
            throw new BlockFormatException("block column '" + field.getName() + "' of type " + field.getType()
                    + ": expected '" + name + "', a fixed-size list");
        }
        ArrowType item = field.getChildren().get(0).getType();
        boolean itemMatches = switch (dtype) {
            case F32 -> item instanceof ArrowType.FloatingPoint f && f.getPrecision() == FloatingPointPrecision.SINGLE;
            case F16 -> item instanceof ArrowType.FloatingPoint f && f.getPrecision() == FloatingPointPrecision.HALF;
            case BF16 -> item instanceof ArrowType.Int i && i.getBitWidth() == 16;
            case FP8 -> item instanceof ArrowType.Int i && i.getBitWidth() == 8 && !i.getIsSigned();
            case INT8 -> item instanceof ArrowType.Int i && i.getBitWidth() == 8 && i.getIsSigned();
        };
        if (!itemMatches) {
            throw new BlockFormatException("block column '" + name + "' holds " + item + ", metadata says " + dtype.id());
        }
        if (list.getListSize() <= 0 || list.getListSize() % tokens != 0) {
            throw new BlockFormatException("block column '" + name + "' has lists of " + list.getListSize()
                    + " values, not a multiple of " + tokens + " tokens");
        }
        return list.getListSize() / tokens;
    }

    private static String require(Map<String, String> meta, String key) throws BlockFormatException {
        String value = meta.get(key);
        if (value == null) {
            throw new BlockFormatException("block metadata lacks " + key);
        }
        return value;
    }

    static String checksum(ByteBuffer... columns) {
        CRC32C crc = new CRC32C();
        for (ByteBuffer c : columns) {
            crc.update(c.duplicate());
        }
        return "crc32c:" + HexFormat.of().toHexDigits((int) crc.getValue()); // String.format costs more than the CRC
    }

    private static long padded(long bytes) {
        return (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }
}
