package io.kvasir.engine.weights;

import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.tensor.DType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A GGUF v2/v3 file, memory-mapped once; tensors are slices of that mapping.
 *
 * <pre>
 * header:      magic "GGUF" (u32), version (u32), tensor_count (u64), metadata_kv_count (u64)
 * metadata:    key (string), value_type (u32), value          — repeated metadata_kv_count times
 * tensor info: name (string), n_dims (u32), ne[n_dims] (u64), type (u32), offset (u64)
 * padding to general.alignment (default 32), then the tensor data; offsets are relative to it.
 * string:      length (u64), UTF-8 bytes
 * </pre>
 */
public final class GgufFile implements AutoCloseable {
    private static final int MAGIC = 0x46554747; // "GGUF" little-endian
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** llama.cpp writes 32; anything past a page or two is a broken file. */
    private static final long MAX_ALIGNMENT = 1 << 16;
    /** Arrays of arrays this deep, at most (llama.cpp writes none; recursion must not overflow the stack). */
    private static final int MAX_ARRAY_DEPTH = 4;

    private final Path path;
    private final Arena arena;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;

    private GgufFile(Path path, Arena arena, Map<String, Object> metadata, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    public static GgufFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Reader r = new Reader(path, file);
            int magic = r.u32("magic");
            if (magic != MAGIC) {
                throw new ModelFormatException(path + ": not a GGUF file (magic 0x%08x, expected 0x%08x \"GGUF\")"
                        .formatted(magic, MAGIC));
            }
            int version = r.u32("version");
            if (version != 2 && version != 3) {
                throw new ModelFormatException(path + ": GGUF version " + version + " is not supported (2 or 3)");
            }
            long tensorCount = r.count("tensor_count");
            long kvCount = r.count("metadata_kv_count");
            Map<String, Object> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = r.string("metadata key #" + i);
                metadata.put(key, r.value(r.u32(key + " type"), key));
            }
            long alignment = metadata.get("general.alignment") instanceof Number n ? n.longValue() : 32;
            if (alignment <= 0 || alignment > MAX_ALIGNMENT || Long.bitCount(alignment) != 1) {
                throw new ModelFormatException(path + ": general.alignment " + alignment
                        + " is not a power of two from 1 to " + MAX_ALIGNMENT);
            }
            record Raw(String name, long[] shape, int type, long offset) {}
            // a tensor's info takes at least 28 bytes (empty name, one dim): never allocate for more than fit
            Raw[] raws = new Raw[r.fitting(tensorCount, 28, "tensor_count")];
            for (int i = 0; i < raws.length; i++) {
                String name = r.string("tensor name #" + i);
                int nDims = r.u32(name + " n_dims");
                if (nDims < 1 || nDims > 4) {
                    throw new ModelFormatException(path + ": tensor " + name + " has " + nDims + " dims (1..4 allowed)");
                }
                long[] shape = new long[nDims];
                for (int d = 0; d < nDims; d++) {
                    shape[nDims - 1 - d] = r.count(name + " ne[" + d + "]"); // ggml order is innermost first
                }
                raws[i] = new Raw(name, shape, r.u32(name + " type"), r.u64(name + " offset"));
            }
            long dataStart = (r.pos + alignment - 1) / alignment * alignment;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (Raw raw : raws) {
                DType dtype = GgmlType.dtypeOf(raw.type);
                if (dtype == null) {
                    throw new ModelFormatException("%s: tensor %s has type %s (%d), which Kvasir does not run (supported: %s)"
                            .formatted(path, raw.name, GgmlType.nameOf(raw.type), raw.type, GgmlType.supported()));
                }
                TensorInfo info;
                try {
                    info = new TensorInfo(raw.name, dtype, raw.shape, MemorySegment.NULL);
                } catch (IllegalArgumentException e) {
                    throw new ModelFormatException(path + ": " + e.getMessage(), e);
                }
                long bytes = dtype.bytesFor(info.numElements());
                long start = dataStart + raw.offset;
                if (raw.offset < 0 || start + bytes > file.byteSize()) {
                    throw new ModelFormatException("%s: truncated: tensor %s needs bytes %d..%d, the file has %d"
                            .formatted(path, raw.name, start, start + bytes, file.byteSize()));
                }
                tensors.put(raw.name, new TensorInfo(raw.name, dtype, raw.shape, file.asSlice(start, bytes)));
            }
            return new GgufFile(path, arena, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(tensors));
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, Object> metadata() {
        return metadata;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Sequential little-endian reads with bounds checks that name what was being read. */
    private static final class Reader {
        final Path path;
        final MemorySegment file;
        long pos;

        Reader(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
        }

        private void need(long bytes, String what) {
            if (bytes < 0 || pos + bytes > file.byteSize()) {
                throw new ModelFormatException("%s: truncated: reading %s at offset %d needs %d bytes, the file has %d"
                        .formatted(path, what, pos, bytes, file.byteSize()));
            }
        }

        int u32(String what) {
            need(4, what);
            int v = file.get(U32, pos);
            pos += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = file.get(U64, pos);
            pos += 8;
            return v;
        }

        /**
         * {@code count} items of at least {@code minBytes} each, as an array length: refused (naming
         * {@code what}) when the rest of the file cannot hold them, before anything is allocated.
         */
        int fitting(long count, int minBytes, String what) {
            long room = (file.byteSize() - pos) / minBytes;
            if (count > room || count > Integer.MAX_VALUE - 8) {
                throw new ModelFormatException(path + ": " + what + " " + count + " cannot fit in the "
                        + (file.byteSize() - pos) + " bytes left of the file");
            }
            return (int) count;
        }

        /** A u64 count that must be plausible for the file's size. */
        long count(String what) {
            long v = u64(what);
            if (v < 0 || v > file.byteSize()) {
                throw new ModelFormatException(path + ": implausible " + what + " " + Long.toUnsignedString(v));
            }
            return v;
        }

        String string(String what) {
            long len = count(what + " length");
            need(len, what);
            byte[] bytes = file.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            return new String(bytes, StandardCharsets.UTF_8);
        }

        /** The fewest bytes a value of a metadata type takes (an unknown type fails when read). */
        private static int minBytes(int type) {
            return switch (type) {
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                case 9 -> 12; // element type and length
                default -> 8; // 64-bit values; a string's length
            };
        }

        Object value(int type, String key) {
            return switch (type) {
                case 0, 1 -> { need(1, key); yield (int) file.get(ValueLayout.JAVA_BYTE, pos++); }
                case 2, 3 -> { need(2, key); short s = file.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos); pos += 2; yield (int) s; }
                case 4, 5 -> u32(key);
                case 6 -> Float.intBitsToFloat(u32(key));
                case 7 -> { need(1, key); yield file.get(ValueLayout.JAVA_BYTE, pos++) != 0; }
                case 8 -> string(key);
                case 9 -> array(key, 1);
                case 10, 11 -> u64(key);
                case 12 -> Double.longBitsToDouble(u64(key));
                default -> throw new ModelFormatException(path + ": metadata " + key + " has unknown value type " + type);
            };
        }

        private Object array(String key, int depth) {
            int elemType = u32(key + " element type");
            if (elemType == 9 && depth >= MAX_ARRAY_DEPTH) {
                throw new ModelFormatException(path + ": metadata " + key + " nests arrays deeper than " + MAX_ARRAY_DEPTH);
            }
            int n = fitting(count(key + " length"), minBytes(elemType), key + " length");
            switch (elemType) {
                case 8 -> {
                    String[] out = new String[n];
                    for (int i = 0; i < n; i++) out[i] = string(key + "[" + i + "]");
                    return out;
                }
                case 6 -> {
                    float[] out = new float[n];
                    for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat(u32(key));
                    return out;
                }
                case 4, 5 -> {
                    int[] out = new int[n];
                    for (int i = 0; i < n; i++) out[i] = u32(key);
                    return out;
                }
                case 9 -> {
                    Object[] out = new Object[n];
                    for (int i = 0; i < n; i++) out[i] = array(key + "[" + i + "]", depth + 1);
                    return out;
                }
                default -> {
                    Object[] out = new Object[n];
                    for (int i = 0; i < n; i++) out[i] = value(elemType, key);
                    return out;
                }
            }
        }
    }
}
