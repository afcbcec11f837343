package io.kvasir.engine.tokenizer;

import java.util.Arrays;

/**
 * Turns a stream of generated tokens into text deltas. One token may hold part of a UTF-8
 * character (byte-fallback pieces), so a delta is released only once it no longer ends in
 * U+FFFD, the replacement character of an incomplete sequence.
 */
public final class StreamingDecoder {
    private final Tokenizer tokenizer;
    private int[] tokens = new int[64];
    private int numTokens;
    private int emittedChars;

    public StreamingDecoder(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Adds a token; returns the text that became complete (possibly empty). */
    public String add(int token) {
        if (numTokens == tokens.length) {
            tokens = Arrays.copyOf(tokens, numTokens * 2);
        }
        tokens[numTokens++] = token;
        String text = tokenizer.decode(Arrays.copyOf(tokens, numTokens));
        if (text.endsWith("\uFFFD") || text.length() < emittedChars) {
            return "";
        }
        String delta = text.substring(emittedChars);
        emittedChars = text.length();
        return delta;
    }

    /** At the end of generation: whatever is still held back (an incomplete or invalid UTF-8 tail). */
    public String flush() {
        String text = text();
        String rest = text.length() > emittedChars ? text.substring(emittedChars) : "";
        emittedChars = text.length();
        return rest;
    }

    /** Everything decoded so far, complete or not. */
    public String text() {
        return tokenizer.decode(Arrays.copyOf(tokens, numTokens));
    }
}
