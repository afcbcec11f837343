package io.kvasir.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.weights.GgufWriter;
import io.kvasir.testing.Golden;

/**
 * A model's configuration as a GGUF file states it: a golden model (Llama with grouped-query
 * attention, or DeepSeek-V2's MLA) with a few metadata values replaced by the fuzzer's (head
 * counts, dimensions, context, rope and norm parameters, vocabulary entries) or left out. Every
 * such file loads as a model or is refused with a {@link ModelFormatException} with a message
 * (a zero head count, a dimension that disagrees with a tensor); nothing else escapes (no division
 * by zero, no negative array size, no allocation sized by a field).
 */
class ModelConfigFuzzTest {
    private static final List<String> MODELS = List.of("llama-gqa-f16", "ds2-tiny");
    private static Path file;
    private static VectorCpuBackend backend;

    @BeforeAll
    static void start() throws IOException {
        file = Files.createTempFile("kvasir-fuzz-model", ".gguf");
        backend = new VectorCpuBackend(1);
    }

    @AfterAll
    static void stop() throws IOException {
        backend.close();
        Files.deleteIfExists(file);
    }

    @FuzzTest(maxExecutions = 10_000)
    void configsLoadOrAreRefused(FuzzedDataProvider data) {
        GgufWriter w = GgufWriter.copyOf(Golden.model(data.pickValue(MODELS)));
        List<String> keys = new ArrayList<>(w.metadata.keySet());
        int changes = data.consumeInt(1, 3);
        for (int i = 0; i < changes; i++) {
            String key = data.pickValue(keys);
            if (!w.metadata.containsKey(key)) {
                continue; // removed by an earlier change
            }
            if (data.consumeInt(0, 7) == 0) {
                w.metadata.remove(key);
                continue;
            }
            Object value = w.metadata.get(key);
            w.metadata.put(key, switch (value) {
                case Integer n -> data.consumeBoolean() ? data.consumeInt() : n + data.consumeInt(-3, 3);
                case Long n -> data.consumeLong();
                case Float f -> data.consumeBoolean() ? data.consumeFloat() : f * data.consumeInt(-2, 2);
                case Double d -> data.consumeDouble();
                case Boolean b -> !b;
                case String s -> data.consumeString(32);
                case int[] a -> a.length == 0 ? a : java.util.Arrays.copyOf(a, data.consumeInt(0, a.length));
                case float[] a -> a.length == 0 ? a : java.util.Arrays.copyOf(a, data.consumeInt(0, a.length));
                case String[] a -> a.length == 0 ? a : java.util.Arrays.copyOf(a, data.consumeInt(1, a.length));
                case null, default -> value;
            });
        }
        try {
            w.write(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (Model model = Model.load(file, backend)) {
            if (model.transformer().config().vocabSize() <= 0) {
                throw new AssertionError("a model loaded with no vocabulary");
            }
        } catch (ModelFormatException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("a refusal that says nothing", e);
            }
        }
    }
}
