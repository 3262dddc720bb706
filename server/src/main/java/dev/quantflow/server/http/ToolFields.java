package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.structured.ToolCalling;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.GenerationParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The tools / tool_choice fields of a chat request, in OpenAI's shape: tools is a list of
 * {"type": "function", "function": {"name", "description"?, "parameters"?}}; tool_choice is
 * "none", "auto" (the default with tools), "required" or {"type": "function", "function": {"name"}}.
 */
final class ToolFields {
    private ToolFields() {}

    /** What the request asks for: the functions, the choice, the tools list as JSON text for the chat template, and parallel_tool_calls. */
    record Tools(List<ToolCalling.Function> functions, ToolCalling.Choice choice, String json, boolean parallel) {}

    static Optional<Tools> of(JsonFields f) {
        Optional<JsonNode> tools = f.get("tools");
        Optional<JsonNode> choice = f.get("tool_choice");
        if (tools.isEmpty() || tools.get().isArray() && tools.get().isEmpty()) {
            if (choice.isPresent() && !(choice.get().isTextual() && List.of("none", "auto").contains(choice.get().textValue())))
                throw ApiError.invalid("tool_choice", "tool_choice " + JsonFields.describe(choice.get()) + " needs tools").exception();
            return Optional.empty();
        }
        if (!tools.get().isArray()) throw JsonFields.wrongType("tools", "a list of tools", tools.get());
        try {
            List<ToolCalling.Function> functions = new ArrayList<>();
            for (JsonNode t : tools.get()) {
                if (!t.isObject() || !"function".equals(t.path("type").asText()) || !t.path("function").isObject())
                    throw ApiError.invalid("tools", "tools: every tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}").exception();
                JsonNode fn = t.get("function");
                if (!fn.path("name").isTextual()) throw ApiError.invalid("tools", "tools: every function needs a name (a string)").exception();
                JsonNode params = fn.path("parameters");
                if (params.isMissingNode() || params.isNull()) params = ((ObjectNode) OpenAiRequestParser.JSON.createObjectNode()).put("type", "object");
                if (!params.isObject()) throw ApiError.invalid("tools", "tools: a function's parameters must be a JSON Schema object").exception();
                functions.add(new ToolCalling.Function(fn.get("name").textValue(), params.toString()));
            }
            ToolCalling.Choice c = choice(choice, functions);
            ToolCalling.validate(functions, c);   // the forced constraints compile here, so a schema the engine cannot follow is a 400 now
            return Optional.of(new Tools(functions, c, tools.get().toString(), f.bool("parallel_tool_calls").orElse(true)));
        } catch (ParameterException e) {
            throw GenerationParams.invalid(e);
        }
    }

    private static ToolCalling.Choice choice(Optional<JsonNode> choice, List<ToolCalling.Function> functions) {
        if (choice.isEmpty()) return new ToolCalling.Choice(ToolCalling.Mode.AUTO, "");
        JsonNode c = choice.get();
        if (c.isTextual()) {
            return switch (c.textValue()) {
                case "none" -> new ToolCalling.Choice(ToolCalling.Mode.NONE, "");
                case "auto" -> new ToolCalling.Choice(ToolCalling.Mode.AUTO, "");
                case "required" -> new ToolCalling.Choice(ToolCalling.Mode.REQUIRED, "");
                default -> throw ApiError.invalid("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}").exception();
            };
        }
        JsonNode name = c.path("function").path("name");
        if (!c.isObject() || !"function".equals(c.path("type").asText()) || !name.isTextual())
            throw ApiError.invalid("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}").exception();
        if (functions.stream().noneMatch(f -> f.name().equals(name.textValue())))
            throw ApiError.invalid("tool_choice", "tool_choice names the function '" + name.textValue() + "', which is not in tools").exception();
        return new ToolCalling.Choice(ToolCalling.Mode.NAMED, name.textValue());
    }
}
