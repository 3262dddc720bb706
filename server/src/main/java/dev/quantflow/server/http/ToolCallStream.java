package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.structured.ToolCallStreamer;
import java.util.ArrayList;
import java.util.List;

/**
 * The chunks of a streamed chat answer that may be tool calls, as OpenAI streams them: content
 * deltas as soon as the text cannot be the start of a call, then per call a first delta with its
 * index, id, type and name, and deltas with pieces of its arguments (the engine's
 * {@link ToolCallStreamer} reads them out of the text). One instance per stream (n is 1 with tools).
 */
final class ToolCallStream {
    private final OpenAiShape shape;
    private final ToolCallStreamer reader;

    ToolCallStream(OpenAiShape shape, ToolFields.Tools tools) {
        this.shape = shape;
        this.reader = new ToolCallStreamer(tools.functions(), tools.choice(), tools.parallel());
    }

    List<ObjectNode> on(TokenEvent ev, boolean includeUsage) {
        List<ObjectNode> out = new ArrayList<>();
        switch (ev) {
            case TokenEvent.Delta d -> {
                if (!d.text().isEmpty()) chunks(reader.push(d.text()), out);
            }
            case TokenEvent.Finished f -> {
                chunks(reader.finish(), out);
                String reason = OpenAiShape.finishReason(f.finishReason());
                // a call cut by max_tokens stays "length"
                out.add(shape.deltaChunk(0, "", List.of(), false, reader.calls() > 0 && reason.equals("stop") ? "tool_calls" : reason));
                if (includeUsage) out.add(shape.usageChunk(f.promptTokens(), f.completionTokens()));
            }
            case TokenEvent.Accepted a -> {}
            case TokenEvent.PromptLogprobs p -> {}   // vLLM's prompt_logprobs are not streamed
        }
        return out;
    }

    private void chunks(List<ToolCallStreamer.Event> events, List<ObjectNode> out) {
        for (ToolCallStreamer.Event e : events) {
            switch (e) {
                case ToolCallStreamer.Content c -> out.add(shape.deltaChunk(0, c.text(), List.of(), false, null));
                case ToolCallStreamer.CallStart s -> out.add(shape.toolCallChunk(s.index(), OpenAiShape.toolCallId(), s.name(), ""));
                case ToolCallStreamer.Arguments a -> out.add(shape.toolCallChunk(a.index(), null, null, a.piece()));
            }
        }
    }
}
