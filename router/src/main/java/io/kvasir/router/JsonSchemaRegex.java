package io.kvasir.router;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/**
 * A JSON Schema as the regular expression structured output decodes against (dk.brics syntax), in
 * the way of Outlines: properties in their declared order, whitespace of at most one space where
 * JSON allows it, strings of printable ASCII without escapes, bounded lengths (a schema's
 * {@code maxLength} / {@code maxItems}, else {@value #MAX_STRING} characters and {@value #MAX_ITEMS}
 * items), so every match of a schema with properties is finite and a model that would ramble still
 * closes its JSON. Free-form JSON ({@code json_object}, an object without properties) takes any
 * number of members, nested two levels.
 *
 * <p>Objects hold their {@code required} properties (all of them when the schema lists none). What
 * the expression cannot promise (number ranges, patterns, {@code allOf}, …) is refused by name,
 * never silently ignored: the output always validates against the schema it was asked for.
 */
final class JsonSchemaRegex {
    static final int MAX_STRING = 64;
    static final int MAX_ITEMS = 8;
    static final int MAX_DEPTH = 6;
    /** The largest maxLength, minItems … a schema may give: each counted character or item is states of the automaton. */
    static final int MAX_BOUND = 256;
    private static final String WS = "[ ]?";
    private static final String STRING_CHAR = "[ !#-\\[\\]-~]";
    private static final String INTEGER = "\\-?(0|[1-9][0-9]{0,15})";
    private static final String NUMBER = INTEGER + "(\\.[0-9]{1,6})?";
    private static final Set<String> REFUSED = Set.of("pattern", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "multipleOf", "patternProperties", "allOf", "not", "if", "then", "else", "uniqueItems",
            "prefixItems", "contains", "minProperties", "maxProperties", "dependentRequired", "dependentSchemas",
            "propertyNames", "unevaluatedProperties", "unevaluatedItems");
    private static final Gson GSON = new Gson();

    private final JsonObject root;

    private JsonSchemaRegex(JsonObject root) {
        this.root = root;
    }

    /** @throws IllegalArgumentException what the schema asks that this cannot express, naming the keyword */
    static String of(JsonObject schema) {
        return new JsonSchemaRegex(schema).value(schema, 0, "schema");
    }

    /** Any JSON object (response_format json_object), nested at most two levels. */
    static String anyObject() {
        String prim = primitive();
        return members("(" + prim + "|" + anyArray(prim) + "|" + members(prim) + ")");
    }

    private String value(JsonObject s, int depth, String where) {
        if (depth > MAX_DEPTH) {
            throw new IllegalArgumentException(where + ": nests deeper than " + MAX_DEPTH + " levels");
        }
        for (String keyword : s.keySet()) {
            if (REFUSED.contains(keyword)) {
                throw new IllegalArgumentException(where + ": \"" + keyword + "\" is not supported in structured output");
            }
        }
        if (s.has("$ref")) {
            return value(resolve(s.get("$ref").getAsString(), where), depth + 1, where);
        }
        if (s.has("const")) {
            return literal(GSON.toJson(s.get("const")));
        }
        if (s.has("enum")) {
            List<String> options = new ArrayList<>();
            s.getAsJsonArray("enum").forEach(e -> options.add(literal(GSON.toJson(e))));
            if (options.isEmpty()) {
                throw new IllegalArgumentException(where + ": an empty enum allows nothing");
            }
            return "(" + String.join("|", options) + ")";
        }
        for (String union : List.of("anyOf", "oneOf")) {
            if (s.has(union)) {
                List<String> options = new ArrayList<>();
                int i = 0;
                for (JsonElement e : s.getAsJsonArray(union)) {
                    options.add(value(object(e, where + "." + union + "[" + i + "]"), depth + 1, where + "." + union + "[" + i++ + "]"));
                }
                if ("oneOf".equals(union) && options.size() > 1) {
                    // overlapping branches would match more than one: not promised, so refused
                    throw new IllegalArgumentException(where + ": \"oneOf\" with several branches is not supported; use anyOf");
                }
                return "(" + String.join("|", options) + ")";
            }
        }
        JsonElement type = s.get("type");
        if (type == null) {
            return s.has("properties") ? typed(s, "object", depth, where) : anyValue();
        }
        if (type.isJsonArray()) {
            List<String> options = new ArrayList<>();
            for (JsonElement t : type.getAsJsonArray()) {
                options.add(typed(s, t.getAsString(), depth, where));
            }
            return "(" + String.join("|", options) + ")";
        }
        return typed(s, type.getAsString(), depth, where);
    }

    private String typed(JsonObject s, String type, int depth, String where) {
        return switch (type) {
            case "string" -> {
                int min = bound(s, "minLength", 0, where), max = bound(s, "maxLength", Math.max(min, MAX_STRING), where);
                yield "\\\"" + STRING_CHAR + "{" + min + "," + max + "}\\\"";
            }
            case "integer" -> INTEGER;
            case "number" -> NUMBER;
            case "boolean" -> "(true|false)";
            case "null" -> "null";
            case "array" -> {
                String item = s.has("items") ? value(object(s.get("items"), where + ".items"), depth + 1, where + ".items")
                        : anyValue();
                int min = bound(s, "minItems", 0, where), max = bound(s, "maxItems", Math.max(min, MAX_ITEMS), where);
                yield array(item, min, max);
            }
            case "object" -> {
                if (!s.has("properties")) {
                    yield anyObject();
                }
                JsonObject properties = object(s.get("properties"), where + ".properties");
                Set<String> required = new java.util.HashSet<>();
                if (s.has("required")) {
                    s.getAsJsonArray("required").forEach(r -> required.add(r.getAsString()));
                } else {
                    required.addAll(properties.keySet());
                }
                List<String> members = new ArrayList<>();
                for (String name : properties.keySet()) {
                    if (required.contains(name)) {
                        String at = where + ".properties." + name;
                        members.add(literal(GSON.toJson(name)) + WS + ":" + WS
                                + value(object(properties.get(name), at), depth + 1, at));
                    }
                }
                yield "\\{" + WS + String.join(WS + "," + WS, members) + WS + "\\}";
            }
            default -> throw new IllegalArgumentException(where + ": type \"" + type + "\" is not a JSON Schema type");
        };
    }

    private JsonObject resolve(String ref, String where) {
        for (String prefix : List.of("#/$defs/", "#/definitions/")) {
            String container = prefix.substring(2, prefix.length() - 1);
            if (ref.startsWith(prefix) && root.has(container) && root.getAsJsonObject(container).has(ref.substring(prefix.length()))) {
                return object(root.getAsJsonObject(container).get(ref.substring(prefix.length())), where + ".$ref");
            }
        }
        throw new IllegalArgumentException(where + ": \"$ref\" " + ref + " does not name a schema in $defs or definitions");
    }

    private static JsonObject object(JsonElement e, String where) {
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException(where + ": a schema must be an object, got " + e);
        }
        return e.getAsJsonObject();
    }

    private static int bound(JsonObject s, String keyword, int fallback, String where) {
        if (!s.has(keyword)) {
            return fallback;
        }
        int v = s.get(keyword).getAsInt();
        if (v < 0 || v > MAX_BOUND) {
            throw new IllegalArgumentException(where + ": " + keyword + " " + v + " is outside [0, " + MAX_BOUND + "]");
        }
        return v;
    }

    /** {@code [item, …]}, from {@code min} to {@code max} items. */
    private static String array(String item, int min, int max) {
        if (max < min) {
            throw new IllegalArgumentException("maxItems " + max + " is below minItems " + min);
        }
        if (max == 0) {
            return "\\[" + WS + "\\]";
        }
        String more = "(" + WS + "," + WS + item + "){" + Math.max(0, min - 1) + "," + (max - 1) + "}";
        String items = item + more;
        return "\\[" + WS + (min == 0 ? "(" + items + ")?" : items) + WS + "\\]";
    }

    /**
     * An object of string keys and {@code member} values, any number of them: a repetition count
     * would multiply the automaton's states (eight members nested twice took 23 s to compile).
     */
    private static String members(String member) {
        String pair = string() + WS + ":" + WS + member;
        return "\\{" + WS + "(" + pair + "(" + WS + "," + WS + pair + ")*)?" + WS + "\\}";
    }

    /** {@code [item, …]}, any number of items (see {@link #members}). */
    private static String anyArray(String item) {
        return "\\[" + WS + "(" + item + "(" + WS + "," + WS + item + ")*)?" + WS + "\\]";
    }

    private static String string() {
        return "\\\"" + STRING_CHAR + "{0," + MAX_STRING + "}\\\"";
    }

    private static String primitive() {
        return "(" + string() + "|" + NUMBER + "|true|false|null)";
    }

    /** Any JSON value, nested at most two levels. */
    private static String anyValue() {
        String prim = primitive();
        return "(" + prim + "|" + anyArray(prim) + "|" + members(prim) + ")";
    }

    /** {@code text} matched literally: every character but letters and digits escaped. */
    static String literal(String text) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (!Character.isLetterOrDigit(c) || c > 127) {
                b.append('\\');
            }
            b.append(c);
        }
        return b.toString();
    }
}
