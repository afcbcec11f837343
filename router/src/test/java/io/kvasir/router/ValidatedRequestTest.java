package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import io.kvasir.engine.tokenizer.Tokenizer;
import io.kvasir.proto.v1.GenerateRequest;

class ValidatedRequestTest {
    /** One token per byte, counting its calls. */
    private static final class ByteTokenizer implements Tokenizer {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public int[] encode(String text) {
            calls.incrementAndGet();
            return text.chars().map(c -> c % 100).toArray();
        }

        @Override
        public String decode(int[] tokens) {
            return "";
        }

        @Override
        public boolean isEndOfGeneration(int token) {
            return false;
        }
    }

    @Test
    void aPromptTooLongForTheContextIsRefusedBeforeItIsTokenized() throws Exception {
        ByteTokenizer tokenizer = new ByteTokenizer();
        int context = 64;
        var tooLong = GenerateRequest.newBuilder().setPrompt("x".repeat(context * ValidatedRequest.MAX_BYTES_PER_TOKEN + 1))
                .setMaxTokens(1).build();
        var e = assertThrows(InvalidRequestException.class, () -> ValidatedRequest.of(tooLong, tokenizer, 100, context));
        assertTrue(e.getMessage().contains("cannot fit the context length of 64"), e.getMessage());
        assertEquals(0, tokenizer.calls.get(), "the tokenizer never saw it");

        var fits = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4).build();
        assertArrayEquals(new int[] {97, 98, 99}, ValidatedRequest.of(fits, tokenizer, 100, context).promptTokens());
    }

    @Test
    void stopStringsAreBoundedInNumberAndLength() throws Exception {
        ByteTokenizer tokenizer = new ByteTokenizer();
        var many = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4);
        for (int i = 0; i <= ValidatedRequest.MAX_STOPS; i++) {
            many.addStop("s" + i);
        }
        var e = assertThrows(InvalidRequestException.class, () -> ValidatedRequest.of(many.build(), tokenizer, 100, 64));
        assertTrue(e.getMessage().startsWith("stop:"), e.getMessage());
        var longOne = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4)
                .addStop("x".repeat(ValidatedRequest.MAX_STOP_CHARS + 1)).build();
        e = assertThrows(InvalidRequestException.class, () -> ValidatedRequest.of(longOne, tokenizer, 100, 64));
        assertTrue(e.getMessage().startsWith("stop[0]"), e.getMessage());
        var fine = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4).addStop("\n\n").build();
        assertEquals(1, ValidatedRequest.of(fine, tokenizer, 100, 64).stop().size());
    }

    @Test
    void samplingControlsAreCheckedNamingTheField() throws Exception {
        ByteTokenizer tokenizer = new ByteTokenizer();
        java.util.Map<String, io.kvasir.proto.v1.SamplingParams.Builder> bad = java.util.Map.of(
                "sampling.min_p", io.kvasir.proto.v1.SamplingParams.newBuilder().setMinP(1.5f),
                "sampling.presence_penalty", io.kvasir.proto.v1.SamplingParams.newBuilder().setPresencePenalty(2.5f),
                "sampling.frequency_penalty", io.kvasir.proto.v1.SamplingParams.newBuilder().setFrequencyPenalty(Float.NaN),
                "sampling.repetition_penalty", io.kvasir.proto.v1.SamplingParams.newBuilder().setRepetitionPenalty(-1),
                "sampling.logit_bias", io.kvasir.proto.v1.SamplingParams.newBuilder().putLogitBias(100, 1f));
        for (var e : bad.entrySet()) {
            var r = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4).setSampling(e.getValue()).build();
            var thrown = assertThrows(InvalidRequestException.class, () -> ValidatedRequest.of(r, tokenizer, 100, 64));
            assertTrue(thrown.getMessage().startsWith(e.getKey() + ":"), thrown.getMessage());
        }
        var outOfRange = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4)
                .setSampling(io.kvasir.proto.v1.SamplingParams.newBuilder().putLogitBias(3, 150f)).build();
        assertTrue(assertThrows(InvalidRequestException.class, () -> ValidatedRequest.of(outOfRange, tokenizer, 100, 64))
                .getMessage().contains("the bias of token 3 must be in [-100, 100]"));
        var stopToken = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4).addStopTokenIds(5)
                .addStopTokenIds(100).build();
        assertTrue(assertThrows(InvalidRequestException.class, () -> ValidatedRequest.of(stopToken, tokenizer, 100, 64))
                .getMessage().startsWith("stop_token_ids[1]: 100 is outside the vocabulary"));
        var fine = GenerateRequest.newBuilder().setPrompt("abc").setMaxTokens(4).addStopTokenIds(5)
                .setSampling(io.kvasir.proto.v1.SamplingParams.newBuilder().setMinP(0.1f).putLogitBias(3, -100f)).build();
        ValidatedRequest v = ValidatedRequest.of(fine, tokenizer, 100, 64);
        assertEquals(java.util.Set.of(5), v.stopTokenIds());
        assertEquals(1f, v.sampling().getTopP(), "top_p 0 read as 1");
        assertEquals(-100f, v.sampling().getLogitBiasOrThrow(3));
    }
}
