package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.kvasir.engine.ChatTemplate;

class ChatRendererTest {
    /** ChatML, as Qwen2 publishes it. */
    private static final ChatRenderer CHATML = new ChatRenderer(new ChatTemplate(
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
                    + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}", "", "<|im_end|>"));

    private static String render(String content) {
        return CHATML.render(List.of(Map.of("role", "user", "content", content)));
    }

    @Test
    void aMessageIsRenderedAsText() {
        assertEquals("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", render("hello"));
    }

    @Test
    void templateSyntaxInAMessageReachesTheModelAsWritten() {
        String loop = "{% for i in range(500) %}x{% endfor %}";
        assertEquals("<|im_start|>user\n" + loop + "<|im_end|>\n<|im_start|>assistant\n", render(loop));
        assertEquals("<|im_start|>user\n{{ 7 * 7 }}<|im_end|>\n<|im_start|>assistant\n", render("{{ 7 * 7 }}"));
    }

    @Test
    void aTemplateThatBuildsAHugeOutputIsRefused() {
        ChatRenderer runaway = new ChatRenderer(new ChatTemplate(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "", ""));
        assertThrows(IllegalArgumentException.class, () -> runaway.render(List.of(Map.of("role", "user", "content", "hi"))));
    }
}
