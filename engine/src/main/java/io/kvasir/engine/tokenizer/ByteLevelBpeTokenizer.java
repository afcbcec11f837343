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
        for (String p : merge(word)) {
            Integer id = ids.get(p);
            if (id == null) {
                throw new IllegalArgumentException("byte-level piece \"" + p + "\" has no token in the vocabulary");
            }
            out.add(id);
        }
    }

    /**
     * BPE on one pre-tokenized word: the adjacent pair of lowest merge rank merges (the leftmost of
     * equals first) until no pair has a rank. The parts are a linked list and the candidate pairs a
     * priority queue, so a word of n characters takes O(n log n), not the O(n²) of rescanning it
     * after every merge (a long run of letters is one word). A queued pair that a merge has since
     * changed is recognised by its parts' versions and skipped.
     */
    List<String> merge(String word) {
        int n = word.length();
        String[] part = new String[n];
        int[] next = new int[n];
        int[] prev = new int[n];
        int[] version = new int[n];
        for (int i = 0; i < n; i++) {
            part[i] = String.valueOf(word.charAt(i));
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        // a candidate: (rank, left part's position, left's version, right's version, right's position),
        // smallest rank first, then leftmost
        java.util.PriorityQueue<long[]> pairs = new java.util.PriorityQueue<>(
                (a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        for (int i = 0; i + 1 < n; i++) {
            queue(pairs, part, version, i, i + 1);
        }
        while (!pairs.isEmpty()) {
            long[] c = pairs.poll();
            int left = (int) c[1];
            int right = (int) c[4];
            if (part[left] == null || next[left] != right || version[left] != c[2] || version[right] != c[3]) {
                continue; // stale: one of its parts has merged since
            }
            part[left] = part[left] + part[right];
            version[left]++;
            part[right] = null;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            if (prev[left] >= 0) {
                queue(pairs, part, version, prev[left], left);
            }
            if (next[left] >= 0) {
                queue(pairs, part, version, left, next[left]);
            }
        }
        List<String> parts = new ArrayList<>();
        for (int i = 0; i >= 0 && i < n; i = next[i]) {
            parts.add(part[i]);
        }
        return parts;
    }

    private void queue(java.util.PriorityQueue<long[]> pairs, String[] part, int[] version, int left, int right) {
        Integer rank = mergeRanks.get(part[left] + " " + part[right]);
        if (rank != null) {
            pairs.add(new long[] {rank, left, version[left], version[right], right});
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
