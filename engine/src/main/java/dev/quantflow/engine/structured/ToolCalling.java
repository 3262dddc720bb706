package dev.quantflow.engine.structured;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.engine.sample.ParameterException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
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
        return constraint(tools, choice, true);
    }

    /** parallel false (OpenAI's parallel_tool_calls): "required" forces exactly one call. */
    public static Optional<OutputConstraint> constraint(List<Function> tools, Choice choice, boolean parallel) {
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
                ObjectNode schema = JSON.createObjectNode().put("type", "array").put("minItems", 1).put("maxItems", parallel ? MAX_CALLS : 1);
                schema.putObject("items").set("anyOf", options);
                yield Optional.of(OutputConstraint.jsonSchema("tools", schema.toString()));
            }
        };
    }

    /** The functions and tool_choice of a request, checked as HTTP and gRPC take them: distinct names, a named choice among them, schemas the engine follows. */
    public static void validate(List<Function> tools, Choice choice) {
        for (int i = 0; i < tools.size(); i++)
            for (int j = 0; j < i; j++)
                if (tools.get(i).name().equals(tools.get(j).name()))
                    throw new ParameterException("tools", "tools: two tools are named '" + tools.get(i).name() + "'");
        for (Function f : tools) read(f.parametersJson());
        constraint(tools, choice);   // compiles the forced constraint, so a schema the engine cannot follow is refused now
    }

    static Function find(List<Function> tools, String name) {
        return tools.stream().filter(f -> f.name().equals(name)).findFirst()
                .orElseThrow(() -> new ParameterException("tool_choice", "tool_choice names the function '" + name + "', which is not in tools"));
    }

    /** The calls in a finished output (empty: it is plain content). */
    public static List<Call> parse(String text, List<Function> tools, Choice choice) {
        return read(text, tools, choice, true).calls();
    }

    /** A finished output as an answer: content (null when there is none besides the calls) and calls. */
    public record Answer(String content, List<Call> calls) {}

    /**
     * A whole output read by the same reader as a stream ({@link ToolCallStreamer}), so that both
     * give the same calls; a call whose arguments are not a JSON object is dropped, and an output
     * with no call is all content.
     */
    public static Answer read(String text, List<Function> tools, Choice choice, boolean parallel) {
        ToolCallStreamer reader = new ToolCallStreamer(tools, choice, parallel);
        List<ToolCallStreamer.Event> events = new ArrayList<>(reader.push(text));
        events.addAll(reader.finish());
        StringBuilder content = new StringBuilder();
        List<String> names = new ArrayList<>();
        List<StringBuilder> args = new ArrayList<>();
        for (ToolCallStreamer.Event e : events) {
            switch (e) {
                case ToolCallStreamer.Content c -> content.append(c.text());
                case ToolCallStreamer.CallStart s -> {
                    names.add(s.name());
                    args.add(new StringBuilder());
                }
                case ToolCallStreamer.Arguments a -> args.get(a.index()).append(a.piece());
            }
        }
        List<Call> calls = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            JsonNode parsed = readOrNull(args.get(i).toString());
            // NAMED keeps the arguments as generated (its stream sends exactly them); the others are given compact, as parsed
            if (parsed != null && parsed.isObject()) calls.add(new Call(names.get(i), choice.mode() == Mode.NAMED ? args.get(i).toString() : parsed.toString()));
        }
        if (calls.isEmpty()) return new Answer(text, List.of());
        return new Answer(content.toString().isBlank() ? null : content.toString(), calls);
    }

    /** A JSON string literal's value (the streamer reads names and string arguments with it). */
    static String decodeJsonString(String literal) {
        JsonNode n = readOrNull(literal);
        return n != null && n.isTextual() ? n.textValue() : "";
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
