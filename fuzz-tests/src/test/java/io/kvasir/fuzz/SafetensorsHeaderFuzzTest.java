package io.kvasir.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import com.code_intelligence.jazzer.junit.FuzzTest;

import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.weights.SafetensorsFolder;
import io.kvasir.engine.weights.TensorInfo;

/**
 * A Hugging Face model folder's {@code model.safetensors} as a user hands one over: any bytes open
 * with every tensor inside the file, or are refused with a {@link ModelFormatException} naming what
 * is wrong; nothing else escapes.
 */
class SafetensorsHeaderFuzzTest {
    private static Path folder;

    @BeforeAll
    static void createFolder() throws IOException {
        folder = Files.createTempDirectory("kvasir-fuzz-safetensors");
    }

    @AfterAll
    static void deleteFolder() throws IOException {
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @FuzzTest(maxExecutions = 10_000)
    void headersOpenOrAreRefused(byte[] bytes) {
        try {
            Files.write(folder.resolve("model.safetensors"), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (SafetensorsFolder weights = SafetensorsFolder.open(folder)) {
            for (TensorInfo t : weights.tensors().values()) {
                long elements = 1;
                for (long d : t.shape()) {
                    elements = Math.multiplyExact(elements, d); // a shape whose count wraps around is no shape
                }
                if (t.data().byteSize() != t.dtype().bytesFor(elements)) {
                    throw new AssertionError("tensor " + t.name() + " does not hold its shape");
                }
            }
        } catch (ModelFormatException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("a refusal that says nothing", e);
            }
        }
    }
}
