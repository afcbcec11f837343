package io.kvasir.router;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import io.kvasir.engine.ChatTemplate;

/**
 * Renders chat messages with the model's own Jinja template (Jinjava, HubSpot's Jinja engine), as
 * transformers' {@code apply_chat_template} does: {@code messages}, {@code add_generation_prompt},
 * {@code bos_token}, {@code eos_token}, and {@code raise_exception} for the templates that check
 * roles. The tokenizer adds BOS itself, so a BOS the template writes first is dropped here.
 *
 * <p>Messages are data, never template: nested interpretation is off, so a message holding
 * {@code {{ … }}} or {@code {% … %}} reaches the model as those characters, and the output, ranges
 * and lists a render may build are bounded, so no conversation can make the router loop or swell.
 */
public final class ChatRenderer {
    /** Twice the largest request body: a template adds markers around messages, never megabytes. */
    static final long MAX_OUTPUT_CHARS = 2L * OpenAiHttpApi.MAX_BODY_BYTES;
    /** The longest range or list a template may build (a conversation's turns are far fewer). */
    static final int MAX_RANGE = 10_000;

    private final ChatTemplate template;
    private final Jinjava jinja;

    public ChatRenderer(ChatTemplate template) {
        this.template = template;
        this.jinja = new Jinjava(JinjavaConfig.newBuilder().withFailOnUnknownTokens(false)
                .withNestedInterpretationEnabled(false)
                .withMaxOutputSize(MAX_OUTPUT_CHARS)
                .withRangeLimit(MAX_RANGE)
                .withMaxListSize(MAX_RANGE)
                .build());
        jinja.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatRenderer.class,
                "raiseException", String.class));
    }

    /** Called by templates that reject a conversation (e.g. roles out of order). */
    public static String raiseException(String message) {
        throw new IllegalArgumentException(message);
    }

    /** @throws IllegalArgumentException the template rejected the messages */
    public String render(List<Map<String, Object>> messages) {
        return render(messages, null);
    }

    /** With {@code tools} (transformers' list of {type, function}) for templates that render them; null for none. */
    public String render(List<Map<String, Object>> messages, List<Object> tools) {
        Map<String, Object> bindings = new HashMap<>();
        bindings.put("messages", messages);
        if (tools != null) {
            bindings.put("tools", tools);
        }
        bindings.put("add_generation_prompt", true);
        bindings.put("bos_token", template.bosToken());
        bindings.put("eos_token", template.eosToken());
        var result = jinja.renderForResult(template.source(), bindings);
        if (!result.getErrors().isEmpty()) {
            throw new IllegalArgumentException("chat template: " + result.getErrors().getFirst().getMessage());
        }
        String text = result.getOutput();
        if (!template.bosToken().isEmpty() && text.startsWith(template.bosToken())) {
            text = text.substring(template.bosToken().length());
        }
        return text;
    }
}
