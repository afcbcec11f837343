package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import dk.brics.automaton.RegExp;
import dk.brics.automaton.RunAutomaton;

/** Schemas as expressions: what they match, what they refuse, and why. */
class JsonSchemaRegexTest {
    private static RunAutomaton dfa(String schema) {
        return new RunAutomaton(new RegExp(JsonSchemaRegex.of(json(schema)), RegExp.NONE).toAutomaton());
    }

    private static JsonObject json(String s) {
        return JsonParser.parseString(s).getAsJsonObject();
    }

    @Test
    void requiredPropertiesInOrderWithTheirTypes() {
        RunAutomaton person = dfa("""
                {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}, "age": {"type": "integer"},
                 "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}, "nick": {"type": "string"}},
                 "required": ["name", "age", "tags"]}""");
        assertTrue(person.run("{\"name\": \"Ann\", \"age\": 41, \"tags\": [\"a\", \"b\"]}"));
        assertTrue(person.run("{\"name\":\"\",\"age\":-3,\"tags\":[]}"));
        assertFalse(person.run("{\"name\": \"Annabel\", \"age\": 41, \"tags\": []}"), "maxLength 5");
        assertFalse(person.run("{\"name\": \"Ann\", \"age\": 4.5, \"tags\": []}"), "an integer");
        assertFalse(person.run("{\"name\": \"Ann\", \"age\": 41, \"tags\": [\"a\", \"b\", \"a\"]}"), "maxItems 2");
        assertFalse(person.run("{\"age\": 41, \"name\": \"Ann\", \"tags\": []}"), "declared order");
        assertFalse(person.run("{\"name\": \"Ann\",  \"age\": 41, \"tags\": []}"), "at most one space");
    }

    @Test
    void referencesUnionsAndFreeJson() {
        RunAutomaton r = dfa("""
                {"$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}}},
                 "anyOf": [{"$ref": "#/$defs/point"}, {"type": "null"}]}""");
        assertTrue(r.run("{\"x\": 1.5}"));
        assertTrue(r.run("null"));
        RunAutomaton any = new RunAutomaton(new RegExp(JsonSchemaRegex.anyObject(), RegExp.NONE).toAutomaton());
        assertTrue(any.run("{\"a\": [1, \"x\", null], \"b\": {\"c\": true}}"));
        assertFalse(any.run("[1, 2]"), "an object");
    }

    @Test
    void whatCannotBePromisedIsRefusedByName() {
        for (String[] c : new String[][] {
                {"{\"type\": \"integer\", \"minimum\": 3}", "\"minimum\" is not supported"},
                {"{\"type\": \"string\", \"pattern\": \"a+\"}", "\"pattern\" is not supported"},
                {"{\"type\": \"strng\"}", "type \"strng\""},
                {"{\"$ref\": \"#/$defs/nope\"}", "does not name a schema"},
                {"{\"type\": \"string\", \"maxLength\": 100000}", "maxLength 100000 is outside [0, 256]"},
                {"{\"type\": \"object\", \"properties\": {\"a\": {\"allOf\": []}}}", "schema.properties.a: \"allOf\""}}) {
            var e = assertThrows(IllegalArgumentException.class, () -> JsonSchemaRegex.of(json(c[0])));
            assertTrue(e.getMessage().contains(c[1]), e.getMessage() + " should say " + c[1]);
        }
    }
}
