package io.kvasir.engine;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.testing.Golden;
import io.kvasir.engine.weights.GgufWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** Broken files and bad requests fail with one message that names the file, tensor or value. */
class BadInputTest {
    @TempDir
    Path tmp;
    private final Backend backend = new VectorCpuBackend(1);

    @AfterEach
    void close() {
        backend.close();
    }

    private static String messageOf(Class<? extends Throwable> type, Executable e) {
        String m = assertThrows(type, e).getMessage();
        assertTrue(!m.contains("\n"), "one line: " + m);
        return m;
    }

    /** A copy of the golden llama-gqa model with {@code change} applied, written to {@code fileName}. */
    private Path modifiedModel(String fileName, java.util.function.Consumer<GgufWriter> change) throws Exception {
        return modifiedModel("llama-gqa", fileName, change);
    }

    private Path modifiedModel(String model, String fileName, java.util.function.Consumer<GgufWriter> change) throws Exception {
        var w = GgufWriter.copyOf(Golden.model(model));
        change.accept(w);
        Path file = tmp.resolve(fileName);
        w.write(file);
        return file;
    }

    private static void assertContains(String message, String... parts) {
        for (String p : parts) assertTrue(message.contains(p), "\"" + message + "\" should mention \"" + p + "\"");
    }

    @Test
    void truncatedGguf() throws Exception {
        byte[] all = Files.readAllBytes(Golden.model("llama-gqa"));
        Path file = tmp.resolve("truncated.gguf");
        Files.write(file, Arrays.copyOf(all, all.length * 2 / 3));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)), file.toString(), "truncated", "tensor");
        Files.write(file, Arrays.copyOf(all, 100));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)), file.toString(), "truncated");
    }

    @Test
    void wrongMagic() throws Exception {
        byte[] all = Files.readAllBytes(Golden.model("llama-gqa"));
        all[3] = 'X';
        Path file = tmp.resolve("magic.gguf");
        Files.write(file, all);
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)), file.toString(), "not a GGUF file");
    }

    @Test
    void unknownTensorType() throws Exception {
        Path file = modifiedModel("q8k.gguf", w -> {
            var t = w.tensors.get("blk.0.attn_k.weight");
            w.tensors.put("blk.0.attn_k.weight", new GgufWriter.Tensor(t.shape(), 15, t.data()));
        });
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)),
                file.toString(), "blk.0.attn_k.weight", "Q8_K", "supported: F32, F16, Q4_0");
    }

    /** A K-quant tensor whose rows (64 wide here) are not whole 256-weight blocks. */
    @Test
    void tensorRowsThatAreNotWholeBlocks() throws Exception {
        Path file = modifiedModel("q4k.gguf", w -> {
            var t = w.tensors.get("blk.0.attn_k.weight");
            w.tensors.put("blk.0.attn_k.weight", new GgufWriter.Tensor(t.shape(), 12, t.data()));
        });
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)),
                file.toString(), "blk.0.attn_k.weight", "Q4_K");
    }

    @Test
    void missingTensor() throws Exception {
        Path file = modifiedModel("missing.gguf", w -> w.tensors.remove("blk.1.ffn_up.weight"));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)),
                file.toString(), "missing tensor blk.1.ffn_up.weight");
    }

    @Test
    void qwen3WithoutItsKeyNorm() throws Exception {
        Path file = modifiedModel("qwen3-tiny", "no-k-norm.gguf", w -> w.tensors.remove("blk.1.attn_k_norm.weight"));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)),
                file.toString(), "missing tensor blk.1.attn_k_norm.weight");
    }

    @Test
    void expertCountsThatDisagreeWithTheTensors() throws Exception {
        Path file = modifiedModel("qwen3moe-tiny", "experts.gguf", w -> w.metadata.put("qwen3moe.expert_count", 6));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)),
                file.toString(), "blk.0.ffn_gate_exps.weight", "[8, 64, 64]", "[6, 64, 64]");
        Path used = modifiedModel("qwen3moe-tiny", "used.gguf", w -> w.metadata.put("qwen3moe.expert_used_count", 9));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(used, backend)),
                used.toString(), "expert_used_count 9 must be 1 to expert_count 8");
    }

    @Test
    void configAndTensorShapesDisagree() throws Exception {
        Path file = modifiedModel("shape.gguf", w -> w.metadata.put("llama.feed_forward_length", 100));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)),
                file.toString(), "blk.0.ffn_gate.weight", "[128, 64]", "[100, 64]");
    }

    @Test
    void unsupportedArchitecture() throws Exception {
        Path file = modifiedModel("arch.gguf", w -> w.metadata.put("general.architecture", "mamba"));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(file, backend)), file.toString(), "mamba");
    }

    @Test
    void tokenIdOutOfRange() {
        try (Model m = Model.load(Golden.model("llama-gqa"), backend)) {
            assertContains(messageOf(IllegalArgumentException.class,
                    () -> new Generator(m).generate(new int[] {1, 5, 512}, 1, SamplingParams.GREEDY, false, t -> {})),
                    "prompt_tokens[2]", "512 is outside the vocabulary [0, 512)");
        }
    }

    @Test
    void promptLongerThanContext() throws Exception {
        Path file = modifiedModel("ctx8.gguf", w -> w.metadata.put("llama.context_length", 8));
        try (Model m = Model.load(file, backend)) {
            assertContains(messageOf(IllegalArgumentException.class,
                    () -> new Generator(m).generate(new int[12], 1, SamplingParams.GREEDY, false, t -> {})),
                    "12 tokens", "context length 8");
        }
    }

    @Test
    void badSafetensorsFolder() throws Exception {
        Path folder = Files.createDirectories(tmp.resolve("hf"));
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(folder, backend)), "config.json");
        Files.writeString(folder.resolve("config.json"), "{\"architectures\":[\"LlamaForCausalLM\"]}");
        Files.write(folder.resolve("model.safetensors"), ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(folder, backend)),
                "model.safetensors", "header length");
        byte[] header = "{\"w\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}".getBytes();
        var buf = ByteBuffer.allocate(8 + header.length + 2).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).put(header);
        Files.write(folder.resolve("model.safetensors"), buf.array());
        assertContains(messageOf(ModelFormatException.class, () -> Model.load(folder, backend)),
                "model.safetensors", "tensor w", "I8");
    }

    /** A GGUF file of metadata only, written by hand: {@code entries} fills in the key/value bytes. */
    private Path rawGguf(String name, long tensorCount, int kvCount, java.util.function.Consumer<ByteBuffer> entries)
            throws Exception {
        ByteBuffer b = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x46554747).putInt(3).putLong(tensorCount).putLong(kvCount);
        entries.accept(b);
        Path file = tmp.resolve(name);
        Files.write(file, Arrays.copyOf(b.array(), b.position() + 64));
        return file;
    }

    private static void key(ByteBuffer b, String key, int type) {
        byte[] k = key.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        b.putLong(k.length).put(k).putInt(type);
    }

    @Test
    void untrustedGgufHeadersAreRefusedBeforeTheyDivideRecurseOrAllocate() throws Exception {
        Path zero = rawGguf("align0.gguf", 0, 1, b -> {
            key(b, "general.alignment", 4);
            b.putInt(0);
        });
        assertContains(messageOf(ModelFormatException.class, () -> io.kvasir.engine.weights.GgufFile.open(zero)),
                zero.toString(), "general.alignment 0");
        Path nested = rawGguf("nested.gguf", 0, 1, b -> {
            key(b, "deep", 9);
            while (b.remaining() > 16) {
                b.putInt(9).putLong(1); // an array holding one array holding one array …
            }
        });
        assertContains(messageOf(ModelFormatException.class, () -> io.kvasir.engine.weights.GgufFile.open(nested)),
                nested.toString(), "deep", "nests arrays deeper");
        Path many = rawGguf("many.gguf", 0, 1, b -> {
            key(b, "names", 9);
            b.putInt(8).putLong(60); // fewer than the file has bytes, but 60 strings need 480 bytes at least
        });
        assertContains(messageOf(ModelFormatException.class, () -> io.kvasir.engine.weights.GgufFile.open(many)),
                many.toString(), "names length 60 cannot fit");
        Path tensors = rawGguf("tensors.gguf", 50, 0, b -> { }); // under the file's size, but 50 infos need 1400 bytes
        assertContains(messageOf(ModelFormatException.class, () -> io.kvasir.engine.weights.GgufFile.open(tensors)),
                tensors.toString(), "tensor_count 50 cannot fit");
    }

    @Test
    void aShardNameThatLeavesTheModelFolderIsRefused() throws Exception {
        Path folder = Files.createDirectories(tmp.resolve("sharded"));
        Files.writeString(folder.resolve("config.json"), "{\"architectures\":[\"LlamaForCausalLM\"]}");
        Files.write(tmp.resolve("outside.safetensors"), new byte[64]);
        for (String shard : new String[] {"../outside.safetensors", "/etc/passwd", "sub/../../outside.safetensors"}) {
            Files.writeString(folder.resolve("model.safetensors.index.json"),
                    "{\"weight_map\": {\"w\": \"" + shard + "\"}}");
            assertContains(messageOf(ModelFormatException.class, () -> Model.load(folder, backend)),
                    "model.safetensors.index.json", shard, "not a .safetensors file in the model's folder");
        }
    }
}
