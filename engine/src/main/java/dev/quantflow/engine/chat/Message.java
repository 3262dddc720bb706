package dev.quantflow.engine.chat;

import java.util.List;

/**
 * One chat message: a role (system, user, assistant, tool, ...) and its text; an assistant turn
 * may carry the tool calls it made, a tool message the id of the call it answers and the tool's
 * name ("" when absent), as OpenAI's chat messages do.
 */
public record Message(String role, String content, List<ToolCall> toolCalls, String toolCallId, String name) {
    public Message {
        if (role == null) throw new IllegalArgumentException("a chat message needs a role");
        if (content == null) content = "";
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        if (toolCallId == null) toolCallId = "";
        if (name == null) name = "";
    }

    public Message(String role, String content) {
        this(role, content, List.of(), "", "");
    }

    /** A call the assistant made: its id ("" when absent), the function's name, its arguments as JSON text. */
    public record ToolCall(String id, String name, String arguments) {
        public ToolCall {
            if (id == null) id = "";
            if (name == null) throw new IllegalArgumentException("a tool call needs a function name");
            if (arguments == null) arguments = "";
        }
    }
}
