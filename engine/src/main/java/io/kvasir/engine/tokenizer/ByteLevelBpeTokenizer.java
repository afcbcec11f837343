package io.kvasir.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2 style byte-level BPE from a GGUF {@code gpt2} vocabulary (Llama 3, Qwen2, …): the text is
 * split by the model's pre-tokenizer regex, each piece's UTF-8 bytes are mapped to printable
 * characters (GPT-2's {@code bytes_to_unicode}), then the pair with the lowest merge rank merges
 * until none is left.
 */
final class ByteLevelBpeTokenizer implements Tokenizer {
    private static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    private static final String LLAMA3_PATTERN =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2_PATTERN =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private final GgufVocabulary vocab;
    private final Map<String, Integer> ids = new HashMap<>();
    private final Map<String, Integer> mergeRanks = new HashMap<>();
    private final char[] byteToChar = new char[256];
    private final int[] charToByte = new int[512];
    private final Pattern pattern;

    ByteLevelBpeTokenizer(GgufVocabulary vocab) {
        this.vocab = vocab;
        for (int i = 0; i < vocab.tokens().length; i++) {
            ids.putIfAbsent(vocab.tokens()[i], i);
        }
        for (int i = 0; i < vocab.merges().length; i++) {
            mergeRanks.putIfAbsent(vocab.merges()[i], i);
        }
        // GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to 256 + k
        java.util.Arrays.fill(charToByte, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            byteToChar[b] = c;
            charToByte[c] = b;
        }
        pattern = Pattern.compile(switch (vocab.pre()) {
            case "llama3", "llama-bpe", "llama-v3", "smaug-bpe", "dbrx" -> LLAMA3_PATTERN;
            case "qwen2", "deepseek-llm" -> QWEN2_PATTERN;
            default -> GPT2_PATTERN;
        });
    }

    @Override
    public int[] encode(String text) {
        List<Integer> out = new ArrayList<>();
        if (vocab.addBos() && vocab.bosId() >= 0) {
            out.add(vocab.bosId());
        }
        Matcher m = pattern.matcher(text);
        while (m.find()) {
            StringBuilder mapped = new StringBuilder();
            for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) {
                mapped.append(byteToChar[b & 0xFF]);
            }
            bpe(mapped.toString(), out);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private void bpe(String word, List<Integer> out) {
        Integer whole = ids.get(word);
        if (whole != null) {
            out.add(whole);
            return;
        }
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < word.length(); i++) {
            parts.add(String.valueOf(word.charAt(i)));
        }
        while (parts.size() > 1) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer rank = mergeRanks.get(parts.get(i) + " " + parts.get(i + 1));
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
        for (String p : parts) {
            Integer id = ids.get(p);
            if (id == null) {
                throw new IllegalArgumentException("byte-level piece \"" + p + "\" has no token in the vocabulary");
            }
            out.add(id);
        }
    }

    @Override
    public String decode(int[] tokens) {
        var bytes = new ByteArrayOutputStream();
        for (int t : tokens) {
            vocab.checkTokenId(t);
            if (vocab.types()[t] == GgufVocabulary.CONTROL) {
                continue;
            }
            for (char c : vocab.tokens()[t].toCharArray()) {
                int b = c < charToByte.length ? charToByte[c] : -1;
                if (b >= 0) {
                    bytes.write(b);
                } else {
                    bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
                }
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Override
    public boolean isEndOfGeneration(int token) {
        return vocab.isEndOfGeneration(token);
    }
}
