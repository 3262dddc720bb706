package dev.quantflow.server.grpc;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.structured.OutputConstraint;
import dev.quantflow.engine.structured.ToolCallStreamer;
import dev.quantflow.engine.structured.ToolCalling;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.Tool;
import dev.quantflow.proto.v1.ToolCallDelta;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.GenerationParams;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * GenerateRequest's tools, tool_choice and parallel_tool_calls, checked by the engine's
 * {@link ToolCalling} as the HTTP API's are, and the reading of the output as ToolCallDelta
 * messages by the engine's {@link ToolCallStreamer}, the reader HTTP streams use.
 */
final class GrpcTools {
    private static final ObjectMapper JSON = new ObjectMapper();

    private GrpcTools() {}

    /** The request's tools: the functions, the choice, parallel_tool_calls, and the tools as OpenAI's JSON list for the chat template. */
    record Request(List<ToolCalling.Function> functions, ToolCalling.Choice choice, boolean parallel, String templateJson) {
        /** Whether the output is read as calls (tool_choice is not NONE). */
        boolean readsCalls() {
            return choice.mode() != ToolCalling.Mode.NONE;
        }

        /** The constraint a REQUIRED or named choice forces. */
        Optional<OutputConstraint> forced() {
            try {
                return ToolCalling.constraint(functions, choice, parallel);
            } catch (ParameterException e) {
                throw GenerationParams.invalid(e);
            }
        }
    }

    static Optional<Request> of(GenerateRequest in) {
        if (in.getToolsCount() == 0) {
            if (in.hasToolChoice() && (in.getToolChoice().hasFunction() || in.getToolChoice().getMode() == dev.quantflow.proto.v1.ToolChoiceMode.TOOL_CHOICE_MODE_REQUIRED))
                throw ApiError.invalid("tool_choice", "a REQUIRED or named tool_choice needs tools").exception();
            return Optional.empty();
        }
        if (in.getPromptCase() != GenerateRequest.PromptCase.CHAT) throw ApiError.invalid("tools", "tools need a chat prompt").exception();
        try {
            List<ToolCalling.Function> functions = new ArrayList<>();
            ArrayNode template = JSON.createArrayNode();
            for (Tool t : in.getToolsList()) {
                String parameters = t.getParameters().isEmpty() ? "{\"type\":\"object\"}" : t.getParameters();
                functions.add(new ToolCalling.Function(t.getName(), parameters));
                ObjectNode fn = JSON.createObjectNode().put("name", t.getName());
                if (!t.getDescription().isEmpty()) fn.put("description", t.getDescription());
                fn.set("parameters", readObject(parameters));
                template.add(JSON.createObjectNode().put("type", "function").set("function", fn));
            }
            ToolCalling.Choice choice = choice(in, functions);
            ToolCalling.validate(functions, choice);
            return Optional.of(new Request(functions, choice, !in.hasParallelToolCalls() || in.getParallelToolCalls(), template.toString()));
        } catch (ParameterException e) {
            throw GenerationParams.invalid(e);
        }
    }

    private static ToolCalling.Choice choice(GenerateRequest in, List<ToolCalling.Function> functions) {
        if (!in.hasToolChoice()) return new ToolCalling.Choice(ToolCalling.Mode.AUTO, "");
        if (in.getToolChoice().hasFunction()) {
            String name = in.getToolChoice().getFunction();
            if (functions.stream().noneMatch(f -> f.name().equals(name)))
                throw ApiError.invalid("tool_choice", "tool_choice names the function '" + name + "', which is not in tools").exception();
            return new ToolCalling.Choice(ToolCalling.Mode.NAMED, name);
        }
        return new ToolCalling.Choice(switch (in.getToolChoice().getMode()) {
            case TOOL_CHOICE_MODE_NONE -> ToolCalling.Mode.NONE;
            case TOOL_CHOICE_MODE_REQUIRED -> ToolCalling.Mode.REQUIRED;
            case TOOL_CHOICE_MODE_AUTO, TOOL_CHOICE_MODE_UNSPECIFIED, UNRECOGNIZED -> ToolCalling.Mode.AUTO;
        }, "");
    }

    private static ObjectNode readObject(String json) {
        try {
            if (JSON.readTree(json) instanceof ObjectNode o) return o;
        } catch (IOException e) {
            // refused below
        }
        throw new ParameterException("tools", "tools: a function's parameters must be a JSON Schema object");
    }

    /** One Generate call's events as messages: content as Delta text, calls as ToolCallDelta messages, Finished TOOL_CALLS after calls. */
    static final class Reader {
        private final String requestId;
        private final ToolCallStreamer reader;

        Reader(String requestId, Request tools) {
            this.requestId = requestId;
            this.reader = new ToolCallStreamer(tools.functions(), tools.choice(), tools.parallel());
        }

        List<GenerateResponse> on(TokenEvent ev) {
            return switch (ev) {
                case TokenEvent.Delta d -> messages(reader.push(d.text()), d, d.index());
                case TokenEvent.Finished f -> {
                    List<GenerateResponse> out = messages(reader.finish(), null, f.index());
                    out.add(GenerationGrpcService.finished(requestId, f, reader.calls() > 0));
                    yield out;
                }
                case TokenEvent.Accepted a -> List.of();
                case TokenEvent.PromptLogprobs p -> List.of(GenerationGrpcService.promptLogprobs(requestId, p));
            };
        }

        /** The reader's events in order; the tokens (and logprobs) of d travel on the first content Delta, or on one of their own. */
        private List<GenerateResponse> messages(List<ToolCallStreamer.Event> events, TokenEvent.Delta d, int index) {
            List<GenerateResponse> out = new ArrayList<>();
            boolean tokensSent = d == null || d.tokenIds().length == 0;
            if (!tokensSent && events.stream().noneMatch(e -> e instanceof ToolCallStreamer.Content)) {
                out.add(GenerateResponse.newBuilder().setRequestId(requestId).setDelta(GenerationGrpcService.delta(d, "")).build());
                tokensSent = true;
            }
            for (ToolCallStreamer.Event e : events) {
                GenerateResponse.Builder m = GenerateResponse.newBuilder().setRequestId(requestId);
                switch (e) {
                    case ToolCallStreamer.Content c -> {
                        m.setDelta(tokensSent ? dev.quantflow.proto.v1.Delta.newBuilder().setText(c.text()).setIndex(index) : GenerationGrpcService.delta(d, c.text()));
                        tokensSent = true;
                    }
                    case ToolCallStreamer.CallStart s -> m.setToolCall(ToolCallDelta.newBuilder().setIndex(s.index())
                            .setId("call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24)).setName(s.name()));
                    case ToolCallStreamer.Arguments a -> m.setToolCall(ToolCallDelta.newBuilder().setIndex(a.index()).setArguments(a.piece()));
                }
                out.add(m.build());
            }
            return out;
        }
    }
}
