package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import dk.brics.automaton.RegExp;
import dk.brics.automaton.RunAutomaton;
import io.kvasir.engine.ChatTemplate;

/** Tools and tool_choice: read from a body, rendered by a template, parsed from answers, forced by an expression. */
class ToolCallsTest {
    private static final String TOOLS = """
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
              "properties": {"city": {"type": "string", "maxLength": 10}}, "required": ["city"]}}},
              {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
              "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}]""";

    private static ToolCalls tools(String choice) throws Exception {
        return ToolCalls.of(JsonParser.parseString("{" + TOOLS + (choice == null ? "" : ", \"tool_choice\": " + choice) + "}")
                .getAsJsonObject());
    }

    @Test
    void callsAreReadInTheHermesAndLlamaFormats() throws Exception {
        ToolCalls t = tools(null);
        assertEquals("auto", t.choice());
        ToolCalls.Answer hermes = t.parse("Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                + "{\"city\": \"Oslo\"}}\n</tool_call>");
        assertEquals("Let me look.", hermes.content());
        assertEquals(1, hermes.calls().size());
        assertEquals("get_weather", hermes.calls().get(0).name());
        assertEquals("{\"city\":\"Oslo\"}", hermes.calls().get(0).arguments());
        ToolCalls.Answer llama = t.parse(" {\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}} ");
        assertNull(llama.content());
        assertEquals("add", llama.calls().get(0).name());
        assertTrue(t.parse("{\"name\": \"unknown\", \"arguments\": {}}").calls().isEmpty(), "not one of the tools");
        assertTrue(t.parse("<tool_call>{not json}</tool_call>").calls().isEmpty());
        assertEquals("plain text", t.parse("plain text").content());
    }

    @Test
    void aNamedOrRequiredChoiceIsForcedByAnExpression() throws Exception {
        RunAutomaton named = new RunAutomaton(new RegExp(tools("{\"type\": \"function\", \"function\": {\"name\": \"add\"}}")
                .forcedExpression(), RegExp.NONE).toAutomaton());
        assertTrue(named.run("{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": -2}}"));
        assertFalse(named.run("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}"), "named: add only");
        RunAutomaton required = new RunAutomaton(new RegExp(tools("\"required\"").forcedExpression(), RegExp.NONE)
                .toAutomaton());
        assertTrue(required.run("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}"));
        assertNull(tools("\"auto\"").forcedExpression());
        assertFalse(tools("\"none\"").parses());
    }

    @Test
    void badToolsAndChoicesAreRefusedNamingTheField() {
        for (String[] c : new String[][] {
                {TOOLS + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"nope\"}}", "tool_choice", "nope"},
                {TOOLS + ", \"tool_choice\": \"sometimes\"", "tool_choice", "sometimes"},
                {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"bad name!\"}}]", "tools", "bad name!"},
                {"\"tools\": []", "tools", "non-empty"},
                {"\"tool_choice\": \"required\"", "tool_choice", "needs tools"}}) {
            var e = assertThrows(OpenAiHttpApi.ApiError.class, () -> ToolCalls.of(JsonParser.parseString("{" + c[0] + "}")
                    .getAsJsonObject()));
            assertEquals(c[1], e.param, e.getMessage());
            assertTrue(e.getMessage().contains(c[2]), e.getMessage());
        }
    }

    @Test
    void theTemplateSeesTheTools() throws Exception {
        ChatRenderer chat = new ChatRenderer(new ChatTemplate("{% for t in tools %}[{{ t.function.name }}]{% endfor %}"
                + "{% for m in messages %}{{ m.content }}{% endfor %}", "", ""));
        assertEquals("[get_weather][add]hi", chat.render(List.of(Map.of("role", "user", "content", "hi")),
                tools(null).forTemplate()));
        JsonObject body = JsonParser.parseString("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], " + TOOLS + "}")
                .getAsJsonObject();
        assertEquals("[get_weather][add]hi", OpenAiRequest.renderChat(body, "m", chat, ToolCalls.of(body)));
    }
}
