package io.kvasir.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece-style tokenization of a GGUF {@code llama} vocabulary, as llama.cpp does it:
 * spaces become U+2581 (with one prepended), the text starts as single characters, and the
 * adjacent pair whose concatenation is the highest-scoring vocabulary piece merges first
 * (leftmost on ties). Characters left without a piece fall back to {@code <0xXX>} byte tokens.
 */
final class SentencePieceTokenizer implements Tokenizer {
    private static final char SPACE = '\u2581';

    private final GgufVocabulary vocab;
    private final Map<String, Integer> ids = new HashMap<>();
    private final int[] byteTokens = new int[256];

    SentencePieceTokenizer(GgufVocabulary vocab) {
        this.vocab = vocab;
        for (int i = 0; i < vocab.tokens().length; i++) {
            ids.putIfAbsent(vocab.tokens()[i], i);
        }
        for (int b = 0; b < 256; b++) {
            byteTokens[b] = ids.getOrDefault("<0x%02X>".formatted(b), -1);
        }
    }

    private record Bigram(int left, int right, float score, int length) {}

    @Override
    public int[] encode(String text) {
        List<Integer> out = new ArrayList<>();
        if (vocab.addBos() && vocab.bosId() >= 0) {
            out.add(vocab.bosId());
        }
        if (!text.isEmpty()) {
            String s = ((vocab.addSpacePrefix() ? " " : "") + text).replace(' ', SPACE);
            tokenize(s, out);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private void tokenize(String s, List<Integer> out) {
        // symbols: one per code point, linked so merges can splice them out
        int n = s.codePointCount(0, s.length());
        int[] start = new int[n], len = new int[n], prev = new int[n], next = new int[n];
        for (int i = 0, off = 0; i < n; i++) {
            start[i] = off;
            len[i] = Character.charCount(s.codePointAt(off));
            off += len[i];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        var queue = new PriorityQueue<Bigram>((a, b) -> a.score != b.score ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, s, start, len, i, i + 1);
        }
        while (!queue.isEmpty()) {
            Bigram bg = queue.poll();
            if (len[bg.left] == 0 || len[bg.right] == 0 || len[bg.left] + len[bg.right] != bg.length || next[bg.left] != bg.right) {
                continue; // stale: one side was merged since
            }
            len[bg.left] += len[bg.right];
            len[bg.right] = 0;
            next[bg.left] = next[bg.right];
            if (next[bg.right] >= 0) {
                prev[next[bg.right]] = bg.left;
            }
            if (prev[bg.left] >= 0) {
                offer(queue, s, start, len, prev[bg.left], bg.left);
            }
            if (next[bg.left] >= 0) {
                offer(queue, s, start, len, bg.left, next[bg.left]);
            }
        }
        for (int i = 0; i >= 0 && i < n; i = next[i]) {
            String piece = s.substring(start[i], start[i] + len[i]);
            Integer id = ids.get(piece);
            if (id != null) {
                out.add(id);
                continue;
            }
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                int t = byteTokens[b & 0xFF];
                out.add(t >= 0 ? t : 0);
            }
        }
    }

    private void offer(PriorityQueue<Bigram> queue, String s, int[] start, int[] len, int left, int right) {
        String piece = s.substring(start[left], start[right] + len[right]);
        Integer id = ids.get(piece);
        if (id != null) {
            queue.add(new Bigram(left, right, vocab.scores()[id], piece.length()));
        }
    }

    @Override
    public String decode(int[] tokens) {
        var bytes = new ByteArrayOutputStream();
        for (int t : tokens) {
            vocab.checkTokenId(t);
            int type = vocab.types()[t];
            String piece = vocab.tokens()[t];
            if (type == GgufVocabulary.CONTROL || type == GgufVocabulary.UNUSED) {
                continue;
            }
            if (type == GgufVocabulary.BYTE && piece.length() == 6 && piece.startsWith("<0x")) {
                bytes.write(Integer.parseInt(piece.substring(3, 5), 16));
            } else {
                bytes.writeBytes(piece.replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8));
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Override
    public boolean isEndOfGeneration(int token) {
        return vocab.isEndOfGeneration(token);
    }
}
