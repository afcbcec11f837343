package io.kvasir.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import io.kvasir.engine.tensor.DType;
import io.kvasir.testing.Golden;
import io.kvasir.engine.testing.HfFolderWriter;
import io.kvasir.engine.weights.GgufFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tokenization against llama.cpp's on the same vocabulary, through both tokenizer paths. */
class TokenizerTest {
    @TempDir
    Path tmp;

    record Case(String text, int[] tokens) {}

    static List<Case> llamaCppCases() throws Exception {
        return llamaCppCases("tokens-spm.json");
    }

    static List<Case> llamaCppCases(String file) throws Exception {
        var array = JsonParser.parseString(Files.readString(Golden.DIR.resolve(file))).getAsJsonArray();
        List<Case> cases = new ArrayList<>();
        for (var e : array) {
            var o = e.getAsJsonObject();
            var t = o.getAsJsonArray("tokens");
            int[] ids = new int[t.size()];
            for (int i = 0; i < ids.length; i++) ids[i] = t.get(i).getAsInt();
            cases.add(new Case(o.get("text").getAsString(), ids));
        }
        return cases;
    }

    private static int[] withBos(int[] tokens) {
        int[] out = new int[tokens.length + 1];
        out[0] = 1;
        System.arraycopy(tokens, 0, out, 1, tokens.length);
        return out;
    }

    @Test
    void ggufSentencePiece_matchesLlamaCpp() throws Exception {
        try (GgufFile gguf = GgufFile.open(Golden.model("llama-wide"))) {
            Tokenizer tok = GgufVocabulary.read(gguf.metadata(), "test").tokenizer("test");
            for (Case c : llamaCppCases()) {
                assertArrayEquals(withBos(c.tokens()), tok.encode(c.text()), "tokens of \"" + c.text() + "\"");
                // llama.cpp's SentencePiece decode keeps the prepended space; Kvasir's too
                String decoded = tok.decode(c.tokens());
                assertEquals(c.text().isEmpty() ? "" : " " + c.text(), decoded, "decode of \"" + c.text() + "\"");
            }
        }
    }

    /**
     * The merge loop (a priority queue over linked parts) against the plain definition it replaces:
     * rescan the parts, merge the leftmost pair of lowest rank, repeat. Words built from the
     * vocabulary's own merges, so long runs of mergeable pairs occur.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "pre-tokenizer {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"llama-bpe", "qwen2"})
    void bpeMergesAsTheRescanningDefinitionDoes(String pre) throws Exception {
        try (GgufFile gguf = GgufFile.open(Golden.model("bpe-" + pre))) {
            var vocab = GgufVocabulary.read(gguf.metadata(), "test");
            var tok = (ByteLevelBpeTokenizer) vocab.tokenizer("test");
            java.util.Map<String, Integer> ranks = new java.util.HashMap<>();
            for (int i = 0; i < vocab.merges().length; i++) {
                ranks.putIfAbsent(vocab.merges()[i], i);
            }
            java.util.SplittableRandom random = new java.util.SplittableRandom(5);
            for (int w = 0; w < 300; w++) {
                StringBuilder word = new StringBuilder();
                int pieces = 1 + random.nextInt(40);
                for (int p = 0; p < pieces; p++) {
                    String merge = vocab.merges()[random.nextInt(Math.min(vocab.merges().length, 400))];
                    word.append(random.nextBoolean() ? merge.replace(" ", "") : merge.substring(0, merge.indexOf(' ')));
                }
                assertEquals(rescanning(word.toString(), ranks), tok.merge(word.toString()), "word " + word);
            }
        }
    }

    private static java.util.List<String> rescanning(String word, java.util.Map<String, Integer> ranks) {
        java.util.List<String> parts = new java.util.ArrayList<>();
        for (int i = 0; i < word.length(); i++) {
            parts.add(String.valueOf(word.charAt(i)));
        }
        while (parts.size() > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer rank = ranks.get(parts.get(i) + " " + parts.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    best = i;
                }
            }
            if (best < 0) {
                break;
            }
            parts.set(best, parts.get(best) + parts.remove(best + 1));
        }
        return parts;
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "pre-tokenizer {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"llama-bpe", "qwen2"})
    void ggufByteLevelBpe_matchesLlamaCpp(String pre) throws Exception {
        try (GgufFile gguf = GgufFile.open(Golden.model("bpe-" + pre))) {
            var vocab = GgufVocabulary.read(gguf.metadata(), "test");
            Tokenizer tok = vocab.tokenizer("test");
            for (Case c : llamaCppCases("tokens-bpe-" + pre + ".json")) {
                int[] expected = new int[c.tokens().length + 1];
                expected[0] = vocab.bosId();
                System.arraycopy(c.tokens(), 0, expected, 1, c.tokens().length);
                assertArrayEquals(expected, tok.encode(c.text()), "tokens of \"" + c.text() + "\"");
                assertEquals(c.text(), tok.decode(expected), "decode of \"" + c.text() + "\"");
            }
            assertTrue(tok.isEndOfGeneration(vocab.eosId()) && tok.isEndOfGeneration(vocab.eotId()));
        }
    }

    @Test
    void huggingFaceTokenizerJson_matchesLlamaCpp() throws Exception {
        try (GgufFile gguf = GgufFile.open(Golden.model("llama-wide"))) {
            new HfFolderWriter(gguf).write(tmp, DType.F32, 1);
        }
        try (Tokenizer tok = HfTokenizer.open(tmp.resolve("tokenizer.json"), Set.of(2))) {
            for (Case c : llamaCppCases()) {
                if (c.text().isEmpty()) continue; // HF's Prepend normalizer makes "" into "▁"
                assertArrayEquals(withBos(c.tokens()), tok.encode(c.text()), "tokens of \"" + c.text() + "\"");
                assertEquals(c.text(), tok.decode(withBos(c.tokens())), "decode of \"" + c.text() + "\"");
            }
            assertTrue(tok.isEndOfGeneration(2));
        }
    }

    @Test
    void streamingDecoder_holdsBackIncompleteUtf8() throws Exception {
        try (GgufFile gguf = GgufFile.open(Golden.model("llama-wide"))) {
            Tokenizer tok = GgufVocabulary.read(gguf.metadata(), "test").tokenizer("test");
            // "漢" is E6 BC A2: three byte-fallback tokens <0xE6> <0xBC> <0xA2> = 3 + byte
            var decoder = new StreamingDecoder(tok);
            assertEquals("", decoder.add(3 + 0xE6));
            assertEquals("", decoder.add(3 + 0xBC));
            assertEquals("漢", decoder.add(3 + 0xA2));
            int[] the = tok.encode("the"); // BOS, then pieces of "▁the"
            StringBuilder deltas = new StringBuilder();
            for (int i = 1; i < the.length; i++) deltas.append(decoder.add(the[i]));
            assertEquals(" the", deltas.toString());
            assertEquals("漢 the", decoder.text());
        }
    }
}
