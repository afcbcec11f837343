package io.kvasir.router;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;

import io.kvasir.engine.tokenizer.Tokenizer;
import io.kvasir.proto.v1.GenerateRequest;

/**
 * The public gRPC API's requests as any caller may send them: any bytes either fail to parse as a
 * {@code GenerateRequest} (gRPC answers INVALID_ARGUMENT) or are validated, every malformed field
 * an {@link InvalidRequestException} naming it; nothing else escapes the router's validation.
 */
class GenerateRequestFuzzTest {
    /** A byte-level stand-in for a model's tokenizer: what validation does with text, not what a model makes of it. */
    private static final Tokenizer BYTES = new Tokenizer() {
        @Override
        public int[] encode(String text) {
            return text.chars().map(c -> c & 0xff).toArray();
        }

        @Override
        public String decode(int[] tokens) {
            StringBuilder b = new StringBuilder();
            for (int t : tokens) {
                b.append((char) t);
            }
            return b.toString();
        }

        @Override
        public boolean isEndOfGeneration(int token) {
            return token == 0;
        }
    };

    @FuzzTest(maxExecutions = 10_000)
    void requestsAreValidatedOrRefusedNamingAField(byte[] bytes) {
        GenerateRequest request;
        try {
            request = GenerateRequest.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            return;
        }
        try {
            ValidatedRequest v = ValidatedRequest.of(request, BYTES, 256, 4096);
            if (v.promptTokens().length == 0 || v.promptTokens().length + v.maxTokens() > 4096) {
                throw new AssertionError("validation let through a request that does not fit: " + request);
            }
        } catch (InvalidRequestException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("a refusal that names nothing", e);
            }
        }
    }
}
