package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.structured.ToolCalling;
import java.util.ArrayList;
import java.util.List;

/**
 * The chunks of a streamed chat answer that may be tool calls. A named tool_choice streams its
 * arguments as they are generated (the output is the arguments); "required" and "auto" hold the
 * text back until the end, where it becomes tool-call chunks (one per call: id and name, then the
 * arguments) or, when it holds no call, one content chunk. One instance per stream.
 */
final class ToolCallStream {
    private final OpenAiShape shape;
    private final ToolFields.Tools tools;
    private final StringBuilder text = new StringBuilder();
    private boolean headerSent;

    ToolCallStream(OpenAiShape shape, ToolFields.Tools tools) {
        this.shape = shape;
        this.tools = tools;
    }

    List<ObjectNode> on(TokenEvent ev, boolean includeUsage) {
        List<ObjectNode> out = new ArrayList<>();
        switch (ev) {
            case TokenEvent.Delta d -> {
                text.append(d.text());
                if (tools.choice().mode() == ToolCalling.Mode.NAMED) {
                    if (!headerSent) {
                        out.add(shape.toolCallChunk(0, OpenAiShape.toolCallId(), tools.choice().name(), ""));
                        headerSent = true;
                    }
                    if (!d.text().isEmpty()) out.add(shape.toolCallChunk(0, null, null, d.text()));
                }
            }
            case TokenEvent.Finished f -> {
                String reason = OpenAiShape.finishReason(f.finishReason());
                List<ToolCalling.Call> calls = reason.equals("stop") ? ToolCalling.parse(text.toString(), tools.functions(), tools.choice()) : List.of();
                if (tools.choice().mode() != ToolCalling.Mode.NAMED) {
                    for (int i = 0; i < calls.size(); i++) {
                        out.add(shape.toolCallChunk(i, OpenAiShape.toolCallId(), calls.get(i).name(), ""));
                        out.add(shape.toolCallChunk(i, null, null, calls.get(i).argumentsJson()));
                    }
                    if (calls.isEmpty() && !text.isEmpty()) out.add(shape.deltaChunk(0, text.toString(), List.of(), false, null));
                }
                out.add(shape.deltaChunk(0, "", List.of(), false, calls.isEmpty() ? reason : "tool_calls"));
                if (includeUsage) out.add(shape.usageChunk(f.promptTokens(), f.completionTokens()));
            }
            case TokenEvent.Accepted a -> {}
            case TokenEvent.PromptLogprobs p -> {}   // completions only; tool calls are chat
        }
        return out;
    }
}
