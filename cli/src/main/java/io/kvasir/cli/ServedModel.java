package io.kvasir.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import io.kvasir.engine.ChatTemplate;
import io.kvasir.engine.Model;
import io.kvasir.router.ChatRenderer;

/**
 * How the HTTP API presents the model, as vLLM's flags set it: {@code --served-model-name NAME} (the
 * id in /v1/models and the {@code model} requests must name; default the file's name) and
 * {@code --chat-template FILE} (for models whose files carry none, or to replace theirs).
 *
 * @param name         null: the model file's name without .gguf
 * @param chatTemplate a Jinja chat template's text, or null: the model's own
 */
record ServedModel(String name, String chatTemplate) {
    static final ServedModel AS_IS = new ServedModel(null, null);

    /** From --served-model-name and --chat-template; a template file that cannot be read is a usage error naming it. */
    static ServedModel of(String command, Args a) {
        String template = null;
        if (a.has("chat-template")) {
            Path file = Path.of(a.string("chat-template", null));
            try {
                template = Files.readString(file);
            } catch (IOException e) {
                throw new Args.UsageException(command + ": --chat-template " + file + ": cannot read it (" + e + ")");
            }
            if (template.isBlank()) {
                throw new Args.UsageException(command + ": --chat-template " + file + " is empty");
            }
        }
        String name = a.has("served-model-name") ? a.string("served-model-name", null) : null;
        if (name != null && name.isBlank()) {
            throw new Args.UsageException(command + ": --served-model-name is empty");
        }
        return new ServedModel(name, template);
    }

    String name(Path model) {
        return name != null ? name : RoleCommands.modelName(model);
    }

    /**
     * The chat renderer: this template (with the BOS and EOS texts of the model's own, if it has one),
     * else the model's own, else null (chat completions are then refused). A template that does not
     * render a one-message conversation is refused here, at startup, rather than on every request.
     */
    ChatRenderer chat(Model model) {
        ChatTemplate own = model.chatTemplate();
        if (chatTemplate == null) {
            return own == null ? null : new ChatRenderer(own);
        }
        ChatRenderer renderer = new ChatRenderer(new ChatTemplate(chatTemplate, own == null ? "" : own.bosToken(),
                own == null ? "" : own.eosToken()));
        try {
            renderer.render(java.util.List.of(java.util.Map.of("role", "user", "content", "hi")));
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("--chat-template: " + e.getMessage());
        }
        return renderer;
    }
}
