package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.ApiException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Typed access to the fields of an OpenAI request body. A missing field and an explicit null both
 * mean "not given" (clients send nulls for unset options); a value of the wrong type is a 400
 * naming the field. Unknown fields are never looked at, so they are tolerated.
 */
final class JsonFields {
    private final ObjectNode body;

    JsonFields(ObjectNode body) {
        this.body = body;
    }

    Optional<JsonNode> get(String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? Optional.empty() : Optional.of(n);
    }

    boolean has(String name) {
        return get(name).isPresent();
    }

    Optional<String> string(String name) {
        return get(name).map(n -> {
            if (!n.isTextual()) throw wrongType(name, "a string", n);
            return n.textValue();
        });
    }

    Optional<Boolean> bool(String name) {
        return get(name).map(n -> {
            if (!n.isBoolean()) throw wrongType(name, "a boolean", n);
            return n.booleanValue();
        });
    }

    OptionalDouble number(String name) {
        Optional<JsonNode> n = get(name);
        if (n.isEmpty()) return OptionalDouble.empty();
        if (!n.get().isNumber()) throw wrongType(name, "a number", n.get());
        double v = n.get().doubleValue();
        if (!Double.isFinite(v)) throw ApiError.invalid(name, name + " must be a finite number").exception();
        return OptionalDouble.of(v);
    }

    OptionalInt integer(String name) {
        OptionalLong v = longInteger(name);
        if (v.isEmpty()) return OptionalInt.empty();
        long x = v.getAsLong();
        if (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE) throw ApiError.invalid(name, name + " is out of range: " + x).exception();
        return OptionalInt.of((int) x);
    }

    OptionalLong longInteger(String name) {
        Optional<JsonNode> n = get(name);
        if (n.isEmpty()) return OptionalLong.empty();
        return OptionalLong.of(asLong(name, n.get()));
    }

    /** A string or a list of strings (as OpenAI's stop). */
    List<String> stringOrList(String name) {
        Optional<JsonNode> n = get(name);
        if (n.isEmpty()) return List.of();
        if (n.get().isTextual()) return List.of(n.get().textValue());
        if (!n.get().isArray()) throw wrongType(name, "a string or a list of strings", n.get());
        List<String> out = new ArrayList<>();
        for (JsonNode e : n.get()) {
            if (!e.isTextual()) throw wrongType(name, "a string or a list of strings", n.get());
            out.add(e.textValue());
        }
        return out;
    }

    /** An integer-valued JSON number (10 or 10.0, not 10.5, not "10"). */
    static long asLong(String name, JsonNode n) {
        if (n.isIntegralNumber()) {
            if (!n.canConvertToLong()) throw ApiError.invalid(name, name + " is out of range: " + n.asText()).exception();
            return n.longValue();
        }
        if (n.isNumber() && n.doubleValue() == Math.rint(n.doubleValue())) {
            if (Math.abs(n.doubleValue()) < 9e15) return (long) n.doubleValue();
            throw ApiError.invalid(name, name + " is out of range: " + n.asText()).exception();
        }
        throw wrongType(name, "an integer", n);
    }

    static ApiException wrongType(String name, String expected, JsonNode got) {
        return ApiError.invalid(name, name + " must be " + expected + ", got " + describe(got)).exception();
    }

    static String describe(JsonNode n) {
        return switch (n.getNodeType()) {
            case STRING -> n.textValue().length() <= 40 ? "the string \"" + n.textValue() + "\"" : "a string";
            case NUMBER -> "the number " + n.asText();
            case BOOLEAN -> "a boolean";
            case ARRAY -> "a list";
            case OBJECT -> "an object";
            default -> n.getNodeType().name().toLowerCase();
        };
    }
}
