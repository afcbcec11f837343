package io.kvasir.router;

import java.nio.ByteBuffer;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.kvasir.engine.ChatTemplate;

/**
 * OpenAI completions and chat bodies as any HTTP client may send them (through a ChatML template,
 * as Qwen2 publishes it): every body is a request the router runs or an OpenAI error with a 4xx
 * status, naming the field where one is at fault; nothing else escapes the parsing.
 */
class OpenAiBodyFuzzTest {
    private static final ChatRenderer CHATML = new ChatRenderer(new ChatTemplate(
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
                    + " + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
                    + "{{ '<|im_start|>assistant\\n' }}{% endif %}", "", "<|im_end|>"));

    @FuzzTest(maxExecutions = 10_000)
    void bodiesAreRequestsOrClientErrors(FuzzedDataProvider data) {
        boolean isChat = data.consumeBoolean();
        byte[] body = data.consumeRemainingAsBytes();
        try {
            OpenAiRequest r = OpenAiRequest.parse(ByteBuffer.wrap(body), isChat, "kvasir-model", CHATML);
            if (r.generate().getPrompt().isEmpty() && r.generate().getPromptTokensCount() == 0 && !isChat) {
                throw new AssertionError("a completion accepted with no prompt");
            }
        } catch (OpenAiHttpApi.ApiError e) {
            if (e.status < 400 || e.status > 499 || e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("a refusal that is not a client error with a message: " + e.status, e);
            }
        }
    }
}
