package io.kvasir.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import com.code_intelligence.jazzer.junit.FuzzTest;

import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.weights.GgufFile;

/**
 * GGUF files as a user hands them over: any bytes open as a file whose tensors lie inside it or
 * are refused with a {@link ModelFormatException} naming what is wrong; nothing else escapes.
 */
class GgufHeaderFuzzTest {
    private static Path file;

    @BeforeAll
    static void createFile() throws IOException {
        file = Files.createTempFile("kvasir-fuzz", ".gguf");
    }

    @AfterAll
    static void deleteFile() throws IOException {
        Files.deleteIfExists(file);
    }

    @FuzzTest(maxExecutions = 10_000)
    void headersOpenOrAreRefused(byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (GgufFile gguf = GgufFile.open(file)) {
            gguf.metadata();
        } catch (ModelFormatException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("a refusal that says nothing", e);
            }
        }
    }
}
