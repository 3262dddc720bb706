package dev.quantflow.engine.structured;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.sample.ParameterException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tool (function) calling for chat: which output a tool_choice forces, and how an output becomes
 * calls. As vLLM does: a named function forces the output to be that function's arguments (JSON
 * valid for its parameters schema); "required" forces a JSON list of 1 to {@link #MAX_CALLS}
 * {"name", "parameters"} calls of the given functions; "auto" lets the model write text and reads
 * calls out of it in the formats chat templates teach: Hermes/Qwen2.5 {@code <tool_call>{"name",
 * "arguments"}</tool_call>} blocks, or (Llama 3.1) the whole output being one {"name",
 * "parameters"} object, optionally after {@code <|python_tag|>}. "none" never calls.
 */
public final class ToolCalling {
    /** "required" forces 1 to this many calls: an unbounded list would let a weak model call until max_tokens. */
    public static final int MAX_CALLS = 4;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");
    private static final Pattern HERMES = Pattern.compile("<tool_call>\\s*(\\{.*?\\})\\s*</tool_call>", Pattern.DOTALL);

    private ToolCalling() {}

    /** A function the model may call: parameters is its JSON Schema as JSON text. */
    public record Function(String name, String parametersJson) {
        public Function {
            if (!NAME.matcher(name).matches())
                throw new ParameterException("tools", "tools: a function name must be 1 to 64 letters, digits, '_' or '-', got '" + name + "'");
        }
    }

    public enum Mode { NONE, AUTO, REQUIRED, NAMED }

    /** tool_choice; name is set for NAMED only. */
    public record Choice(Mode mode, String name) {}

    /** One call: arguments is a JSON object's text. */
    public record Call(String name, String argumentsJson) {}

    /** The output constraint that tool_choice forces (required, named), or none. Refusals name "tools" / "tool_choice". */
    public static Optional<OutputConstraint> constraint(List<Function> tools, Choice choice) {
        return switch (choice.mode()) {
            case NONE, AUTO -> Optional.empty();
            case NAMED -> Optional.of(OutputConstraint.jsonSchema("tools", find(tools, choice.name()).parametersJson()));
            case REQUIRED -> {
                ArrayNode options = JSON.createArrayNode();
                for (Function f : tools) {
                    ObjectNode call = JSON.createObjectNode().put("type", "object");
                    ObjectNode props = call.putObject("properties");
                    props.putObject("name").put("const", f.name());
                    props.set("parameters", read(f.parametersJson()));
                    call.putArray("required").add("name").add("parameters");
                    options.add(call);
                }
                ObjectNode schema = JSON.createObjectNode().put("type", "array").put("minItems", 1).put("maxItems", MAX_CALLS);
                schema.putObject("items").set("anyOf", options);
                yield Optional.of(OutputConstraint.jsonSchema("tools", schema.toString()));
            }
        };
    }

    static Function find(List<Function> tools, String name) {
        return tools.stream().filter(f -> f.name().equals(name)).findFirst()
                .orElseThrow(() -> new ParameterException("tool_choice", "tool_choice names the function '" + name + "', which is not in tools"));
    }

    /** The calls in a finished output (empty: it is plain content). */
    public static List<Call> parse(String text, List<Function> tools, Choice choice) {
        List<Call> calls = new ArrayList<>();
        switch (choice.mode()) {
            case NONE -> {}
            case NAMED -> {
                // the arguments as generated, so that streamed argument deltas concatenate to them
                JsonNode args = readOrNull(text);
                if (args != null && args.isObject()) calls.add(new Call(choice.name(), text));
            }
            case REQUIRED -> {
                JsonNode list = readOrNull(text);
                if (list != null && list.isArray())
                    for (JsonNode c : list) calls.add(new Call(c.path("name").asText(), c.path("parameters").toString()));
            }
            case AUTO -> {
                Matcher m = HERMES.matcher(text);
                while (m.find()) call(readOrNull(m.group(1)), tools).ifPresent(calls::add);
                if (calls.isEmpty()) {
                    String t = text.strip();
                    if (t.startsWith("<|python_tag|>")) t = t.substring("<|python_tag|>".length()).strip();
                    if (t.startsWith("{")) call(readOrNull(t), tools).ifPresent(calls::add);
                }
            }
        }
        return calls;
    }

    /** {"name": a known function, "arguments" or "parameters": an object} as a call. */
    private static Optional<Call> call(JsonNode o, List<Function> tools) {
        if (o == null || !o.isObject() || !o.path("name").isTextual()) return Optional.empty();
        String name = o.get("name").textValue();
        if (tools.stream().noneMatch(f -> f.name().equals(name))) return Optional.empty();
        JsonNode args = o.has("arguments") ? o.get("arguments") : o.get("parameters");
        if (args != null && args.isTextual()) args = readOrNull(args.textValue());
        if (args == null || !args.isObject()) return Optional.empty();
        return Optional.of(new Call(name, args.toString()));
    }

    private static JsonNode readOrNull(String text) {
        try {
            return JSON.readTree(text);
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private static JsonNode read(String json) {
        JsonNode n = readOrNull(json);
        if (n == null || !n.isObject()) throw new ParameterException("tools", "tools: a function's parameters must be a JSON Schema object");
        return n;
    }
}
