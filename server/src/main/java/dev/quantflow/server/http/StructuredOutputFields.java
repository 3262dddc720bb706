package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.structured.OutputConstraint;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.GenerationParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The structured-output fields of a request: OpenAI's response_format (text, json_object,
 * json_schema) and vLLM's guided_json / guided_regex / guided_choice, at most one of them. The
 * engine compiles and checks the constraint (OutputConstraint); its refusals become a 400 naming
 * the field.
 */
final class StructuredOutputFields {
    private StructuredOutputFields() {}

    static Optional<OutputConstraint> constraint(JsonFields f) {
        List<OutputConstraint> asked = new ArrayList<>();
        try {
            responseFormat(f).ifPresent(asked::add);
            f.get("guided_json").ifPresent(s -> {
                JsonNode schema = s.isTextual() ? OpenAiRequestParser.parseObject(s.textValue().getBytes(java.nio.charset.StandardCharsets.UTF_8)) : s;
                if (!schema.isObject()) throw JsonFields.wrongType("guided_json", "a JSON schema (an object or its text)", s);
                asked.add(OutputConstraint.jsonSchema("guided_json", schema.toString()));
            });
            f.string("guided_regex").ifPresent(r -> asked.add(OutputConstraint.regex("guided_regex", r)));
            f.get("guided_choice").ifPresent(c -> {
                if (!c.isArray() || c.isEmpty()) throw JsonFields.wrongType("guided_choice", "a non-empty list of strings", c);
                List<String> choices = new ArrayList<>();
                for (JsonNode e : c) {
                    if (!e.isTextual()) throw JsonFields.wrongType("guided_choice", "a non-empty list of strings", c);
                    choices.add(e.textValue());
                }
                asked.add(OutputConstraint.choice("guided_choice", choices));
            });
        } catch (ParameterException e) {
            throw GenerationParams.invalid(e);
        }
        if (asked.size() > 1)
            throw ApiError.invalid(asked.get(1).param(), "only one of response_format (json_object, json_schema), guided_json, guided_regex and guided_choice may be given").exception();
        return asked.stream().findFirst();
    }

    private static Optional<OutputConstraint> responseFormat(JsonFields f) {
        Optional<JsonNode> rf = f.get("response_format");
        if (rf.isEmpty()) return Optional.empty();
        if (!rf.get().isObject()) throw JsonFields.wrongType("response_format", "an object", rf.get());
        String type = rf.get().path("type").asText("");
        return switch (type) {
            case "text" -> Optional.empty();
            case "json_object" -> Optional.of(OutputConstraint.jsonObject("response_format"));
            case "json_schema" -> {
                JsonNode js = rf.get().path("json_schema");
                if (!js.isObject()) throw ApiError.invalid("response_format", "response_format json_schema needs a json_schema object with a schema").exception();
                JsonNode schema = js.path("schema");
                if (!schema.isObject()) throw ApiError.invalid("response_format", "response_format.json_schema.schema must be a JSON schema object").exception();
                yield Optional.of(OutputConstraint.jsonSchema("response_format", schema.toString()));
            }
            default -> throw ApiError.invalid("response_format", "response_format type must be \"text\", \"json_object\" or \"json_schema\", got "
                    + JsonFields.describe(rf.get().path("type"))).exception();
        };
    }
}
