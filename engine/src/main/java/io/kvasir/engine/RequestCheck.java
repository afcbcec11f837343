package io.kvasir.engine;

/**
 * The checks every role makes of a request before it runs anything, in one place: each role
 * checks its own inputs (none trusts its caller), and the messages name the field and the value.
 * Sums are taken in {@code long}, so a {@code max_tokens} near 2³¹ is refused, never wrapped.
 */
public final class RequestCheck {
    private RequestCheck() {
    }

    /** A request field that fails a check; {@link #field} as the APIs name it. */
    public static final class Invalid extends IllegalArgumentException {
        private final String field;
        private final String reason;

        public Invalid(String field, String reason) {
            super(field + ": " + reason);
            this.field = field;
            this.reason = reason;
        }

        public String field() {
            return field;
        }

        /** What is wrong with the field, without its name. */
        public String reason() {
            return reason;
        }
    }

    /** A prompt of token ids: not empty, every id inside the vocabulary, no longer than the context. */
    public static void prompt(int[] prompt, int vocab, int context) {
        if (prompt.length == 0) {
            throw new Invalid("prompt", "is empty");
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= vocab) {
                throw new Invalid("prompt_tokens[" + i + "]", prompt[i] + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (prompt.length > context) {
            throw new Invalid("prompt", prompt.length + " tokens exceed the context length " + context);
        }
    }

    /** Generation after a prompt of {@code promptLength} tokens: at least one token, all within the context. */
    public static void generation(int promptLength, long maxTokens, int context) {
        if (maxTokens < 1) {
            throw new Invalid("max_tokens", "must be >= 1, got " + maxTokens);
        }
        if (promptLength + maxTokens > context) {
            throw new Invalid("max_tokens", "the prompt (" + promptLength + " tokens) + max_tokens (" + maxTokens
                    + ") exceeds the context length " + context);
        }
    }
}
