package io.kvasir.router;

import java.util.List;
import java.util.Set;

import io.kvasir.engine.RequestCheck;
import io.kvasir.engine.tokenizer.Tokenizer;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.SamplingParams;

/**
 * A generation request checked field by field and tokenized: what the decode node is sent.
 *
 * @param sampling     as asked, top_p 0 read as 1
 * @param stopTokenIds generation ends at these tokens, which the client does not get
 */
record ValidatedRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stop,
        Set<Integer> stopTokenIds) {
    /**
     * A token of real text covers a few bytes (long runs of spaces or symbols a few dozen): a prompt
     * with more than this many bytes per token of the context cannot fit, and is refused before the
     * tokenizer spends time on it.
     */
    static final int MAX_BYTES_PER_TOKEN = 64;
    /** Stop strings are searched after every token: their number and length are bounded (OpenAI allows 4). */
    static final int MAX_STOPS = 32;
    static final int MAX_STOP_CHARS = 512;
    /** OpenAI's bound on logit_bias entries; stop token ids take the same. */
    static final int MAX_BIASED_TOKENS = 300;
    /** Structured output's expression: a schema of a few dozen fields is well under this. */
    static final int MAX_EXPRESSION_CHARS = 16 * 1024;

    /** Expressions already checked (a client sends its schema again and again): the most recent 256. */
    private static final java.util.Set<String> CHECKED = java.util.Collections.newSetFromMap(
            java.util.Collections.synchronizedMap(new java.util.LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(java.util.Map.Entry<String, Boolean> eldest) {
                    return size() > 256;
                }
            }));

    private static void checkExpression(String regex) throws InvalidRequestException {
        if (CHECKED.contains(regex)) {
            return;
        }
        try {
            io.kvasir.engine.sampling.Grammar.check(regex);
        } catch (IllegalArgumentException | StackOverflowError e) {
            throw new InvalidRequestException("sampling.structured_output", String.valueOf(e.getMessage()));
        }
        CHECKED.add(regex);
    }

    static ValidatedRequest of(GenerateRequest r, Tokenizer tokenizer, int vocab, int context)
            throws InvalidRequestException {
        boolean hasText = !r.getPrompt().isEmpty(), hasTokens = r.getPromptTokensCount() > 0;
        if (hasText == hasTokens) {
            throw new InvalidRequestException("prompt", hasText ? "give prompt or prompt_tokens, not both"
                    : "one of prompt or prompt_tokens is required (both are empty)");
        }
        int[] tokens;
        if (hasText) {
            long bytes = r.getPromptBytes().size(); // UTF-8, not copied
            if (bytes > (long) context * MAX_BYTES_PER_TOKEN) {
                throw new InvalidRequestException("prompt", bytes + " bytes of text cannot fit the context length of "
                        + context + " tokens");
            }
            tokens = tokenizer.encode(r.getPrompt());
            if (tokens.length == 0) {
                throw new InvalidRequestException("prompt", "tokenizes to nothing");
            }
        } else {
            tokens = r.getPromptTokensList().stream().mapToInt(Integer::intValue).toArray();
        }
        try {
            RequestCheck.prompt(tokens, vocab, context);
            RequestCheck.generation(tokens.length, r.getMaxTokens(), context);
        } catch (RequestCheck.Invalid e) {
            throw new InvalidRequestException(e.field(), e.reason());
        }
        SamplingParams s = r.getSampling();
        if (!(s.getTemperature() >= 0 && s.getTemperature() <= 100)) {
            throw new InvalidRequestException("sampling.temperature", "must be in [0, 100], got " + s.getTemperature());
        }
        float topP = s.getTopP() == 0 ? 1 : s.getTopP();
        if (!(topP > 0 && topP <= 1)) {
            throw new InvalidRequestException("sampling.top_p", "must be in (0, 1], got " + s.getTopP());
        }
        if (s.getTopK() < 0) {
            throw new InvalidRequestException("sampling.top_k", "must be >= 0, got " + s.getTopK());
        }
        if (!(s.getMinP() >= 0 && s.getMinP() <= 1)) {
            throw new InvalidRequestException("sampling.min_p", "must be in [0, 1], got " + s.getMinP());
        }
        if (!(s.getPresencePenalty() >= -2 && s.getPresencePenalty() <= 2)) {
            throw new InvalidRequestException("sampling.presence_penalty", "must be in [-2, 2], got " + s.getPresencePenalty());
        }
        if (!(s.getFrequencyPenalty() >= -2 && s.getFrequencyPenalty() <= 2)) {
            throw new InvalidRequestException("sampling.frequency_penalty", "must be in [-2, 2], got "
                    + s.getFrequencyPenalty());
        }
        if (s.getTopLogprobs() < 0 || s.getTopLogprobs() > io.kvasir.engine.sampling.SamplingParams.MAX_LOGPROBS) {
            throw new InvalidRequestException("sampling.top_logprobs", "must be 0 to "
                    + io.kvasir.engine.sampling.SamplingParams.MAX_LOGPROBS + ", got " + s.getTopLogprobs());
        }
        if (!(s.getRepetitionPenalty() >= 0 && s.getRepetitionPenalty() <= 100)) {
            throw new InvalidRequestException("sampling.repetition_penalty", "must be in (0, 100] (0: off), got "
                    + s.getRepetitionPenalty());
        }
        if (s.getLogitBiasCount() > MAX_BIASED_TOKENS) {
            throw new InvalidRequestException("sampling.logit_bias", s.getLogitBiasCount() + " tokens; at most "
                    + MAX_BIASED_TOKENS);
        }
        for (var bias : s.getLogitBiasMap().entrySet()) {
            if (bias.getKey() < 0 || bias.getKey() >= vocab) {
                throw new InvalidRequestException("sampling.logit_bias", "token " + bias.getKey()
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
            if (!(bias.getValue() >= -100 && bias.getValue() <= 100)) {
                throw new InvalidRequestException("sampling.logit_bias", "the bias of token " + bias.getKey()
                        + " must be in [-100, 100], got " + bias.getValue());
            }
        }
        if (!s.getStructuredOutput().isEmpty()) {
            if (s.getStructuredOutput().length() > MAX_EXPRESSION_CHARS) {
                throw new InvalidRequestException("sampling.structured_output", s.getStructuredOutput().length()
                        + " characters; at most " + MAX_EXPRESSION_CHARS);
            }
            checkExpression(s.getStructuredOutput());
        }
        if (r.getStopTokenIdsCount() > MAX_BIASED_TOKENS) {
            throw new InvalidRequestException("stop_token_ids", r.getStopTokenIdsCount() + " tokens; at most "
                    + MAX_BIASED_TOKENS);
        }
        for (int i = 0; i < r.getStopTokenIdsCount(); i++) {
            if (r.getStopTokenIds(i) < 0 || r.getStopTokenIds(i) >= vocab) {
                throw new InvalidRequestException("stop_token_ids[" + i + "]", r.getStopTokenIds(i)
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (r.getStopCount() > MAX_STOPS) {
            throw new InvalidRequestException("stop", r.getStopCount() + " stop strings; at most " + MAX_STOPS);
        }
        for (int i = 0; i < r.getStopCount(); i++) {
            if (r.getStop(i).isEmpty()) {
                throw new InvalidRequestException("stop[" + i + "]", "is empty");
            }
            if (r.getStop(i).length() > MAX_STOP_CHARS) {
                throw new InvalidRequestException("stop[" + i + "]", r.getStop(i).length() + " characters; at most "
                        + MAX_STOP_CHARS);
            }
        }
        return new ValidatedRequest(tokens, r.getMaxTokens(), s.toBuilder().setTopP(topP).build(), r.getStopList(),
                Set.copyOf(r.getStopTokenIdsList()));
    }
}
