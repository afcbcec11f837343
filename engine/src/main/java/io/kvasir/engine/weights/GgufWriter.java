package io.kvasir.engine.weights;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes GGUF v3 files: the built-in model {@code kvasir serve} generates, and in tests copies of
 * existing files with metadata, tensors or types changed (the broken files the loader must reject).
 * Metadata values map to GGUF types by Java type (String, Integer u32, Long u64, Float, Double,
 * Boolean, String[], float[], int[]).
 */
public final class GgufWriter {
    public record Tensor(long[] shape, int ggmlType, byte[] data) {
        /** An F32 vector of ones (a norm's weight in a generated model). */
        public static Tensor onesF32(int n) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(n * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                b.putFloat(1f);
            }
            return new Tensor(new long[] {n}, 0, b.array());
        }
    }

    public final Map<String, Object> metadata = new LinkedHashMap<>();
    public final Map<String, Tensor> tensors = new LinkedHashMap<>();

    private static final Map<String, Integer> GGML_TYPE = Map.of("F32", 0, "F16", 1, "Q8_0", 8, "BF16", 30);

    public static GgufWriter copyOf(Path gguf) {
        var w = new GgufWriter();
        try (GgufFile f = GgufFile.open(gguf)) {
            w.metadata.putAll(f.metadata());
            for (TensorInfo t : f.tensors().values()) {
                w.tensors.put(t.name(), new Tensor(t.shape(), GGML_TYPE.get(t.dtype().name()), t.data().toArray(ValueLayout.JAVA_BYTE)));
            }
        }
        return w;
    }

    public void write(Path file) throws IOException {
        var out = new ByteArrayOutputStream();
        out.writeBytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        u32(out, 3);
        u64(out, tensors.size());
        u64(out, metadata.size());
        for (var e : metadata.entrySet()) {
            string(out, e.getKey());
            value(out, e.getValue());
        }
        long offset = 0;
        for (var e : tensors.entrySet()) {
            string(out, e.getKey());
            long[] shape = e.getValue().shape();
            u32(out, shape.length);
            for (int d = shape.length - 1; d >= 0; d--) u64(out, shape[d]);
            u32(out, e.getValue().ggmlType());
            u64(out, offset);
            offset += align(e.getValue().data().length);
        }
        pad(out);
        // the header in memory, the tensors streamed after it: files past 2 GB (a 1B model) fit
        try (var stream = new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            out.writeTo(stream);
            long written = out.size();
            for (Tensor t : tensors.values()) {
                stream.write(t.data());
                written += t.data().length;
                long padded = align(written);
                stream.write(new byte[(int) (padded - written)]);
                written = padded;
            }
        }
    }

    private static long align(long n) {
        return (n + 31) / 32 * 32;
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 32 != 0) out.write(0);
    }

    private static void value(ByteArrayOutputStream out, Object v) {
        switch (v) {
            case String s -> { u32(out, 8); string(out, s); }
            case Integer i -> { u32(out, 4); u32(out, i); }
            case Long l -> { u32(out, 10); u64(out, l); }
            case Float f -> { u32(out, 6); u32(out, Float.floatToRawIntBits(f)); }
            case Double d -> { u32(out, 12); u64(out, Double.doubleToRawLongBits(d)); }
            case Boolean b -> { u32(out, 7); out.write(b ? 1 : 0); }
            case String[] a -> { u32(out, 9); u32(out, 8); u64(out, a.length); for (String s : a) string(out, s); }
            case float[] a -> { u32(out, 9); u32(out, 6); u64(out, a.length); for (float f : a) u32(out, Float.floatToRawIntBits(f)); }
            case int[] a -> { u32(out, 9); u32(out, 5); u64(out, a.length); for (int i : a) u32(out, i); }
            default -> throw new IllegalArgumentException("cannot write metadata value " + v.getClass());
        }
    }

    private static void string(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(out, b.length);
        out.writeBytes(b);
    }

    private static void u32(ByteArrayOutputStream out, int v) {
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }

    private static void u64(ByteArrayOutputStream out, long v) {
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }
}
