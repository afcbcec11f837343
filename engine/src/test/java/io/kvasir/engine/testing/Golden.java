package io.kvasir.engine.testing;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The committed reference data made by {@code scripts/peer-refs.sh}: tiny random-weight GGUF
 * models and llama.cpp's outputs on them (F32 KV cache, flash attention off).
 */
public final class Golden {
    public static final Path DIR = Path.of("src/test/resources/golden").toAbsolutePath();

    private Golden() {
    }

    public static Path model(String name) {
        return DIR.resolve(name + ".gguf");
    }

    /** llama.cpp's output on a model: the prompt, 20 greedy tokens, the last prompt position's logits. */
    public record Reference(String name, int[] prompt, int[] greedy, float[] lastLogits) {
        @Override
        public String toString() {
            return name;
        }
    }

    public static Reference reference(String refName) {
        try {
            JsonObject o = JsonParser.parseString(Files.readString(DIR.resolve(refName + ".json"))).getAsJsonObject();
            var prompt = o.getAsJsonArray("prompt");
            var greedy = o.getAsJsonArray("greedy");
            var logits = o.getAsJsonArray("lastLogits");
            int[] p = new int[prompt.size()], g = new int[greedy.size()];
            float[] l = new float[logits.size()];
            for (int i = 0; i < p.length; i++) p[i] = prompt.get(i).getAsInt();
            for (int i = 0; i < g.length; i++) g[i] = greedy.get(i).getAsInt();
            for (int i = 0; i < l.length; i++) l[i] = logits.get(i).getAsFloat();
            return new Reference(refName, p, g, l);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
