package io.kvasir.testing;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The committed reference data made by {@code scripts/peer-refs.sh}: tiny random-weight GGUF
 * models and llama.cpp's outputs on them (F32 KV cache, flash attention off). They are this
 * module's resources: any module's test reaches them here, by name, wherever it runs from.
 */
public final class Golden {
    /** The directory of the models and references: the build's own, or a copy of the jar's. */
    public static final Path DIR = locate();

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

    private static Path locate() {
        try {
            URI marker = Golden.class.getResource("golden/llama-gqa.json").toURI();
            if (marker.getScheme().equals("file")) {
                return Path.of(marker).getParent();
            }
            // from a jar (a module tested on its own, against the installed fixtures): copied out once,
            // since models are mapped from files
            Path dir = Files.createTempDirectory("kvasir-golden");
            dir.toFile().deleteOnExit();
            try (FileSystem jar = FileSystems.newFileSystem(marker, Map.of());
                    Stream<Path> files = Files.list(jar.provider().getPath(marker).getParent())) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Path copy = dir.resolve(f.getFileName().toString());
                    Files.copy(f, copy);
                    copy.toFile().deleteOnExit();
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
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
