package dev.quantflow.engine.structured;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.sample.ParameterException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * JSON Schema to a regular expression of the JSON texts it accepts (the idea of outlines'
 * build_regex_from_schema). Output is compact JSON: no whitespace except one optional space after
 * ':' and ','; object properties come in the schema's order. Supported: type (one or a list),
 * properties, required, additionalProperties (extra properties are never generated), enum, const,
 * items, minItems, maxItems, anyOf, allOf of one schema, local $ref (#/$defs/..., #/definitions/...,
 * not recursive), minLength, maxLength, pattern, format (date, time, date-time, uuid, email, ipv4).
 * Any other keyword is refused naming it. Nesting is bounded: a schema without structure (an object
 * or array with no properties or items, or json_object itself) admits values nested up to
 * {@link #FREE_DEPTH} containers deep. Numbers have at most 16 integer digits, 15 fraction digits
 * and 3 exponent digits, so that every output is a finite double.
 */
final class JsonSchemaRx {
    /** Containers (objects, arrays) a free-form JSON value may nest. */
    static final int FREE_DEPTH = 3;
    private static final int MAX_REF_DEPTH = 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    private static final Set<String> IGNORED = Set.of("title", "description", "$schema", "$id", "$comment", "default", "examples",
            "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "additionalProperties", "strict");
    private static final Set<String> SUPPORTED = Set.of("type", "properties", "required", "enum", "const", "items", "minItems", "maxItems",
            "anyOf", "allOf", "$ref", "minLength", "maxLength", "pattern", "format");

    private static final Rx SPACE = Rx.optional(Rx.literal(" "));
    private static final Rx COMMA = Rx.seq(Rx.literal(","), SPACE);
    private static final Rx COLON = Rx.seq(Rx.literal(":"), SPACE);
    /** What a JSON string may hold raw: everything but '"', '\' and the controls. */
    static final Rx.Chars STRING_UNSAFE = Rx.chars('"', '"', '\\', '\\', 0, 0x1F);
    private static final Rx STRING_CHAR = Rx.alt(
            Rx.complement(STRING_UNSAFE),
            Rx.seq(Rx.literal("\\"), Rx.chars('"', '"', '\\', '\\', '/', '/', 'b', 'b', 'f', 'f', 'n', 'n', 'r', 'r', 't', 't')),
            Rx.seq(Rx.literal("\\u"), new Rx.Repeat(Rx.chars('0', '9', 'a', 'f', 'A', 'F'), 4, 4)));
    private static final Rx INTEGER = re("-?(0|[1-9][0-9]{0,15})");
    private static final Rx NUMBER = re("-?(0|[1-9][0-9]{0,15})(\\.[0-9]{1,15})?([eE][+-]?[0-9]{1,3})?");
    private static final Rx BOOLEAN = re("true|false");
    private static final Rx NULL = Rx.literal("null");
    private static final Map<String, Rx> FORMATS = Map.of(
            // 29 February is left out: it is valid in leap years only; e-mail domains end in a few real top-level
            // domains, since validators check the top-level domain against IANA's list
            "date", re(DATE()),
            "time", re(TIME()),
            "date-time", re(DATE() + "T" + TIME()),
            "uuid", re("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
            "email", re("[a-z0-9]{1,16}([._+-][a-z0-9]{1,16}){0,2}@[a-z0-9]{1,16}(-[a-z0-9]{1,16}){0,2}(\\.[a-z0-9]{1,16}){0,2}\\.(com|org|net|edu|gov|io|dev)"),
            "ipv4", re("((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"));

    private static String DATE() {
        return "[1-9][0-9]{3}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)";
    }

    /** Offsets within +-14:00 and never -00:00 (RFC 3339's "unknown offset", which validators refuse). */
    private static String TIME() {
        return "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|\\+(0[0-9]|1[0-3]):(00|30|45)|-(0[1-9]|1[0-2]):(00|30))";
    }

    private static Rx re(String regex) {
        return RegexParser.parse("format", regex);
    }

    private final String param;
    private final JsonNode root;
    private int refDepth;

    private JsonSchemaRx(String param, JsonNode root) {
        this.param = param;
        this.root = root;
    }

    /** The expression of the texts valid for the schema; param names the request field in errors. */
    static Rx of(String param, JsonNode schema) {
        return new JsonSchemaRx(param, schema).value(schema, "");
    }

    /** Any JSON object (json_object mode): values nested up to FREE_DEPTH containers. */
    static Rx anyObject() {
        return freeObject(FREE_DEPTH - 1);
    }

    private ParameterException refuse(String where, String what) {
        return new ParameterException(param, param + ": " + what + (where.isEmpty() ? "" : " (at " + where + ")"));
    }

    private Rx value(JsonNode s, String where) {
        if (s.isBoolean()) {
            if (s.booleanValue()) return freeValue(FREE_DEPTH);
            throw refuse(where, "the schema false accepts nothing");
        }
        if (!s.isObject()) throw refuse(where, "a schema must be an object or a boolean");
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!SUPPORTED.contains(k) && !IGNORED.contains(k))
                throw refuse(where, "the JSON Schema keyword '" + k + "' is not supported");
        }
        if (s.has("$ref")) return ref(s, where);
        if (s.has("const")) return Rx.literal(compact(s.get("const")));
        if (s.has("enum")) {
            JsonNode e = s.get("enum");
            if (!e.isArray() || e.isEmpty()) throw refuse(where, "enum must be a non-empty list");
            List<Rx> options = new ArrayList<>();
            for (JsonNode v : e) options.add(Rx.literal(compact(v)));
            return Rx.alt(options);
        }
        if (s.has("anyOf")) {
            JsonNode a = s.get("anyOf");
            if (!a.isArray() || a.isEmpty()) throw refuse(where, "anyOf must be a non-empty list");
            if (hasOwnConstraints(s, "anyOf")) throw refuse(where, "anyOf beside other keywords is not supported; put them inside each branch");
            List<Rx> options = new ArrayList<>();
            for (int i = 0; i < a.size(); i++) options.add(value(a.get(i), where + "/anyOf/" + i));
            return Rx.alt(options);
        }
        if (s.has("allOf")) {
            JsonNode a = s.get("allOf");
            if (!a.isArray() || a.size() != 1 || hasOwnConstraints(s, "allOf")) throw refuse(where, "allOf is supported with exactly one schema and nothing beside it");
            return value(a.get(0), where + "/allOf/0");
        }
        JsonNode type = s.get("type");
        if (type == null) {
            if (s.has("properties") || s.has("required")) return object(s, where);
            if (s.has("items") || s.has("minItems") || s.has("maxItems")) return array(s, where);
            if (s.has("minLength") || s.has("maxLength") || s.has("pattern") || s.has("format")) return string(s, where);
            return freeValue(FREE_DEPTH);
        }
        if (type.isTextual()) return typed(type.textValue(), s, where);
        if (!type.isArray() || type.isEmpty()) throw refuse(where, "type must be a type name or a non-empty list of them");
        List<Rx> options = new ArrayList<>();
        for (JsonNode t : type) {
            if (!t.isTextual()) throw refuse(where, "type must be a type name or a non-empty list of them");
            options.add(typed(t.textValue(), s, where));
        }
        return Rx.alt(options);
    }

    private static boolean hasOwnConstraints(JsonNode s, String combinator) {
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!k.equals(combinator) && !IGNORED.contains(k)) return true;
        }
        return false;
    }

    private Rx typed(String type, JsonNode s, String where) {
        return switch (type) {
            case "string" -> string(s, where);
            case "integer" -> INTEGER;
            case "number" -> NUMBER;
            case "boolean" -> BOOLEAN;
            case "null" -> NULL;
            case "object" -> object(s, where);
            case "array" -> array(s, where);
            default -> throw refuse(where, "unknown type '" + type + "'");
        };
    }

    private Rx ref(JsonNode s, String where) {
        String ref = s.get("$ref").asText();
        if (!(ref.startsWith("#/$defs/") || ref.startsWith("#/definitions/") || ref.equals("#")))
            throw refuse(where, "only local $ref (#/$defs/NAME, #/definitions/NAME) is supported, got '" + ref + "'");
        JsonNode target = root.at(ref.substring(1));
        if (target.isMissingNode()) throw refuse(where, "$ref '" + ref + "' points to nothing");
        if (++refDepth > MAX_REF_DEPTH) throw refuse(where, "recursive $ref ('" + ref + "') is not supported");
        try {
            return value(target, ref);
        } finally {
            refDepth--;
        }
    }

    private Rx string(JsonNode s, String where) {
        int min = count(s, "minLength", where, 0);
        int max = count(s, "maxLength", where, -1);
        if (max >= 0 && max < min) throw refuse(where, "maxLength is below minLength");
        if (s.has("pattern") && s.has("format")) throw refuse(where, "pattern and format together are not supported");
        Rx body;
        if (s.has("pattern")) {
            body = Rx.without(RegexParser.parse(param + " pattern", s.get("pattern").asText()), STRING_UNSAFE);
            if (s.has("minLength") || s.has("maxLength")) throw refuse(where, "pattern together with minLength/maxLength is not supported");
        } else if (s.has("format")) {
            String f = s.get("format").asText();
            body = FORMATS.get(f);
            if (body == null) throw refuse(where, "the string format '" + f + "' is not supported (supported: " + String.join(", ", new java.util.TreeSet<>(FORMATS.keySet())) + ")");
            if (s.has("minLength") || s.has("maxLength")) throw refuse(where, "format together with minLength/maxLength is not supported");
        } else {
            body = new Rx.Repeat(STRING_CHAR, min, max);
        }
        return Rx.seq(Rx.literal("\""), body, Rx.literal("\""));
    }

    private int count(JsonNode s, String key, String where, int absent) {
        JsonNode n = s.get(key);
        if (n == null) return absent;
        if (!n.canConvertToInt() || !n.isIntegralNumber() || n.intValue() < 0) throw refuse(where, key + " must be a non-negative integer");
        if (n.intValue() > RegexParser.MAX_REPEAT) throw refuse(where, key + " above " + RegexParser.MAX_REPEAT + " is not supported");
        return n.intValue();
    }

    private Rx array(JsonNode s, String where) {
        int min = count(s, "minItems", where, 0);
        int max = count(s, "maxItems", where, -1);
        if (max >= 0 && max < min) throw refuse(where, "maxItems is below minItems");
        JsonNode items = s.get("items");
        if (items != null && items.isArray()) throw refuse(where, "items as a list (tuple validation) is not supported");
        Rx item = items == null ? freeValue(FREE_DEPTH - 1) : value(items, where + "/items");
        return list(item, min, max);
    }

    private static Rx list(Rx item, int min, int max) {
        if (max == 0) return Rx.literal("[]");
        Rx more = new Rx.Repeat(Rx.seq(COMMA, item), Math.max(0, min - 1), max < 0 ? -1 : max - 1);
        Rx body = Rx.seq(item, more);
        return Rx.seq(Rx.literal("["), min == 0 ? Rx.optional(body) : body, Rx.literal("]"));
    }

    private Rx object(JsonNode s, String where) {
        JsonNode props = s.get("properties");
        if (props != null && !props.isObject()) throw refuse(where, "properties must be an object");
        Set<String> required = new LinkedHashSet<>();
        JsonNode req = s.get("required");
        if (req != null) {
            if (!req.isArray()) throw refuse(where, "required must be a list of names");
            for (JsonNode r : req) required.add(r.asText());
        }
        JsonNode extra = s.get("additionalProperties");
        boolean closed = extra != null && extra.isBoolean() && !extra.booleanValue();
        if (props == null && required.isEmpty()) return closed ? Rx.literal("{}") : freeObject(FREE_DEPTH - 1);
        List<String> names = new ArrayList<>();
        List<Rx> members = new ArrayList<>();
        List<Boolean> mandatory = new ArrayList<>();
        if (props != null)
            for (Iterator<Map.Entry<String, JsonNode>> it = props.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> p = it.next();
                names.add(p.getKey());
                members.add(Rx.seq(Rx.literal(compact(JSON.getNodeFactory().textNode(p.getKey()))), COLON, value(p.getValue(), where + "/properties/" + p.getKey())));
                mandatory.add(required.contains(p.getKey()));
            }
        for (String r : required)
            if (!names.contains(r)) {
                if (closed) throw refuse(where, "required property '" + r + "' is not in properties and additionalProperties is false");
                names.add(r);
                members.add(Rx.seq(Rx.literal(compact(JSON.getNodeFactory().textNode(r))), COLON, freeValue(FREE_DEPTH - 1)));
                mandatory.add(true);
            }
        return Rx.seq(Rx.literal("{"), members(members, mandatory), Rx.literal("}"));
    }

    /**
     * Members in order, each optional one present or not, commas only between present ones. With a
     * required member: optional ones before it are "m," and after it ",m". Without: one of them is
     * the first present, each alternative quadratic at worst.
     */
    private static Rx members(List<Rx> members, List<Boolean> mandatory) {
        int firstRequired = mandatory.indexOf(true);
        if (firstRequired >= 0) {
            List<Rx> parts = new ArrayList<>();
            for (int i = 0; i < members.size(); i++) {
                Rx m = members.get(i);
                if (i < firstRequired) parts.add(Rx.optional(Rx.seq(m, COMMA)));
                else if (i == firstRequired) parts.add(m);
                else parts.add(mandatory.get(i) ? Rx.seq(COMMA, m) : Rx.optional(Rx.seq(COMMA, m)));
            }
            return new Rx.Seq(parts);
        }
        List<Rx> firsts = new ArrayList<>();
        for (int f = 0; f < members.size(); f++) {
            List<Rx> parts = new ArrayList<>();
            parts.add(members.get(f));
            for (int i = f + 1; i < members.size(); i++) parts.add(Rx.optional(Rx.seq(COMMA, members.get(i))));
            firsts.add(new Rx.Seq(parts));
        }
        return Rx.optional(Rx.alt(firsts));
    }

    private static Rx string() {
        return Rx.seq(Rx.literal("\""), Rx.star(STRING_CHAR), Rx.literal("\""));
    }

    /** Any JSON value with at most depth containers. */
    static Rx freeValue(int depth) {
        List<Rx> options = new ArrayList<>(List.of(string(), NUMBER, BOOLEAN, NULL));
        if (depth > 0) {
            options.add(freeObject(depth - 1));
            options.add(list(freeValue(depth - 1), 0, -1));
        }
        return Rx.alt(options);
    }

    /** Any JSON object whose values have at most depth containers. */
    private static Rx freeObject(int depth) {
        Rx member = Rx.seq(string(), COLON, freeValue(depth));
        return Rx.seq(Rx.literal("{"), Rx.optional(Rx.seq(member, Rx.star(Rx.seq(COMMA, member)))), Rx.literal("}"));
    }

    private static String compact(JsonNode v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static ObjectNode parseSchema(String param, String text) {
        try {
            JsonNode n = JSON.readTree(text);
            if (!(n instanceof ObjectNode o)) throw new ParameterException(param, param + ": the schema must be a JSON object");
            return o;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ParameterException(param, param + ": the schema is not valid JSON: " + e.getOriginalMessage());
        }
    }
}
