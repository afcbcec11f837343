package io.kvasir.engine.weights;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.tensor.DType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The {@code *.safetensors} files of a Hugging Face model folder, each memory-mapped once.
 * Sharded checkpoints are read through {@code model.safetensors.index.json}; otherwise every
 * {@code .safetensors} file in the folder is opened.
 *
 * <pre>
 * file:   header_len (u64 LE), header (JSON, header_len bytes), data
 * header: { "name": {"dtype": "F32"|"F16"|"BF16"|…, "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {…} }
 *         offsets are relative to the end of the header
 * </pre>
 */
public final class SafetensorsFolder implements AutoCloseable {
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private final Arena arena;
    private final Map<String, TensorInfo> tensors;

    private SafetensorsFolder(Arena arena, Map<String, TensorInfo> tensors) {
        this.arena = arena;
        this.tensors = tensors;
    }

    public static SafetensorsFolder open(Path folder) {
        Arena arena = Arena.ofShared();
        try {
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (Path file : shardFiles(folder)) {
                readFile(file, arena, tensors);
            }
            return new SafetensorsFolder(arena, tensors);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    @Override
    public void close() {
        arena.close();
    }

    private static List<Path> shardFiles(Path folder) {
        Path index = folder.resolve("model.safetensors.index.json");
        try {
            if (Files.exists(index)) {
                JsonObject weightMap = JsonParser.parseString(Files.readString(index)).getAsJsonObject()
                        .getAsJsonObject("weight_map");
                if (weightMap == null) {
                    throw new ModelFormatException(index + ": no \"weight_map\" object");
                }
                var names = new TreeSet<String>();
                weightMap.entrySet().forEach(e -> names.add(e.getValue().getAsString()));
                List<Path> files = new ArrayList<>();
                Path root = folder.toAbsolutePath().normalize();
                for (String name : names) {
                    Path p = root.resolve(name).normalize();
                    // a shard is a file in the model's folder: never a path that climbs out of it
                    if (!p.getParent().equals(root) || !p.getFileName().toString().endsWith(".safetensors")) {
                        throw new ModelFormatException(index + ": shard name " + name
                                + " is not a .safetensors file in the model's folder");
                    }
                    if (!Files.exists(p)) {
                        throw new ModelFormatException(index + ": names shard " + name + ", which does not exist");
                    }
                    files.add(p);
                }
                return files;
            }
            try (Stream<Path> s = Files.list(folder)) {
                List<Path> files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
                if (files.isEmpty()) {
                    throw new ModelFormatException(folder + ": no .safetensors files");
                }
                return files;
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof ModelFormatException m) throw m;
            throw new ModelFormatException(folder + ": cannot read the safetensors index: " + e.getMessage(), e);
        }
    }

    private static void readFile(Path file, Arena arena, Map<String, TensorInfo> out) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new ModelFormatException(file + ": truncated: " + size + " bytes, not even a header length");
            }
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
                throw new ModelFormatException(file + ": bad safetensors header length " + headerLen + " (file has " + size + " bytes)");
            }
            String json = new String(seg.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            JsonObject header;
            try {
                header = JsonParser.parseString(json).getAsJsonObject();
            } catch (RuntimeException e) {
                throw new ModelFormatException(file + ": safetensors header is not a JSON object: " + e.getMessage(), e);
            }
            for (var e : header.entrySet()) {
                if (e.getKey().equals("__metadata__")) continue;
                try {
                    readTensor(file, e.getKey(), e.getValue(), seg, size, 8 + headerLen, out);
                } catch (ModelFormatException x) {
                    throw x;
                } catch (RuntimeException x) { // a field missing or of the wrong JSON type, a bad shape
                    throw new ModelFormatException("%s: tensor %s: malformed header entry %s: %s"
                            .formatted(file, e.getKey(), abbreviate(e.getValue().toString()), x.getMessage()), x);
                }
            }
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static String abbreviate(String json) {
        return json.length() <= 200 ? json : json.substring(0, 200) + "…";
    }

    /** One entry of a file's header, checked against the file: its bytes lie inside it and hold its shape. */
    private static void readTensor(Path file, String name, JsonElement entry, MemorySegment seg, long size,
            long dataStart, Map<String, TensorInfo> out) {
        JsonObject t = entry.getAsJsonObject();
        String dt = t.get("dtype").getAsString();
        DType dtype = switch (dt) {
            case "F32" -> DType.F32;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            default -> throw new ModelFormatException("%s: tensor %s has dtype %s, which Kvasir does not run (supported: F32, F16, BF16)"
                    .formatted(file, name, dt));
        };
        var shapeJson = t.getAsJsonArray("shape");
        long[] shape = new long[shapeJson.size()];
        for (int i = 0; i < shape.length; i++) shape[i] = shapeJson.get(i).getAsLong();
        var offsets = t.getAsJsonArray("data_offsets");
        long begin = offsets.get(0).getAsLong(), end = offsets.get(1).getAsLong();
        var info = new TensorInfo(name, dtype, shape, MemorySegment.NULL);
        if (begin < 0 || end - begin != dtype.bytesFor(info.numElements())) {
            throw new ModelFormatException("%s: tensor %s: data_offsets [%d, %d] do not hold shape %s of %s"
                    .formatted(file, name, begin, end, info.shapeString(), dtype));
        }
        if (end > size - dataStart) {
            throw new ModelFormatException("%s: truncated: tensor %s needs bytes up to %d, the file has %d"
                    .formatted(file, name, dataStart + end, size));
        }
        out.put(name, new TensorInfo(name, dtype, shape, seg.asSlice(dataStart + begin, end - begin)));
    }
}
