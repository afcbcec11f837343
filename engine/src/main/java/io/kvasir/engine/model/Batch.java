package io.kvasir.engine.model;

import io.kvasir.engine.kv.BlockTable;

/**
 * The tokens of one forward step, possibly from many sequences: each token carries its position
 * and its sequence's block table, and may ask for logits. A prefill chunk is many tokens of one
 * sequence; a decode step is one token of each running sequence. Preallocated and reused: fill it
 * with {@link #add} after {@link #clear}.
 */
public final class Batch {
    final int[] tokens;         // (capacity)
    final int[] positions;      // (capacity)
    final BlockTable[] tables;  // (capacity)
    final int[] logitTokens;    // (capacity) indices of the tokens whose logits are wanted, in order
    int size;
    int numLogits;

    public Batch(int capacity) {
        tokens = new int[capacity];
        positions = new int[capacity];
        tables = new BlockTable[capacity];
        logitTokens = new int[capacity];
    }

    public void clear() {
        java.util.Arrays.fill(tables, 0, size, null);
        size = 0;
        numLogits = 0;
    }

    /**
     * Adds {@code token} at {@code position} of the sequence {@code table}; its logits, if wanted,
     * land in row {@code numLogits()} of the logits buffer (before this call).
     */
    public void add(int token, int position, BlockTable table, boolean wantLogits) {
        if (size == tokens.length) {
            throw new IllegalStateException("batch is full (" + tokens.length + " tokens)");
        }
        if (wantLogits) {
            logitTokens[numLogits++] = size;
        }
        tokens[size] = token;
        positions[size] = position;
        tables[size] = table;
        size++;
    }

    public int size() {
        return size;
    }

    public int numLogits() {
        return numLogits;
    }
}
