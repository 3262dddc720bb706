package dev.quantflow.server.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.quantflow.actors.api.Prompt;
import java.util.List;
import java.util.Set;

/**
 * The checks a chat message passes, for HTTP and gRPC alike: OpenAI's roles; tool calls only in
 * assistant turns, each with a function name and arguments that are JSON text; a tool message
 * names the call it answers. Each refusal names the field, as messages[i].field.
 */
public final class ChatMessages {
    public static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
    private static final ObjectReader STRICT_JSON = new ObjectMapper().readerFor(JsonNode.class).with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private ChatMessages() {}

    /** prefix: how the request names the messages ("messages" over HTTP, "chat.messages" over gRPC). */
    public static Prompt.ChatMessage checked(String prefix, int index, String role, String content, List<Prompt.ToolCall> toolCalls, String toolCallId, String name) {
        String at = prefix + "[" + index + "]";
        if (!ROLES.contains(role))
            throw ApiError.invalid(at + ".role", at + ".role '" + role + "' is not one of system, developer, user, assistant, tool").exception();
        if (!toolCalls.isEmpty() && !role.equals("assistant"))
            throw ApiError.invalid(at + ".tool_calls", at + ".tool_calls belongs to assistant messages, not " + role).exception();
        for (int j = 0; j < toolCalls.size(); j++) {
            Prompt.ToolCall c = toolCalls.get(j);
            String call = at + ".tool_calls[" + j + "]";
            if (c.name().isEmpty()) throw ApiError.invalid(call + ".function.name", call + ".function.name is required").exception();
            if (!c.arguments().isBlank()) {
                try {
                    STRICT_JSON.readValue(c.arguments());
                } catch (JsonProcessingException e) {
                    throw ApiError.invalid(call + ".function.arguments", call + ".function.arguments is not valid JSON: " + e.getOriginalMessage()).exception();
                }
            }
        }
        if (role.equals("tool") && toolCallId.isEmpty())
            throw ApiError.invalid(at + ".tool_call_id", at + ".tool_call_id is required for a tool message (the id of the call it answers)").exception();
        if (!toolCallId.isEmpty() && !role.equals("tool"))
            throw ApiError.invalid(at + ".tool_call_id", at + ".tool_call_id belongs to tool messages, not " + role).exception();
        return new Prompt.ChatMessage(role, content, toolCalls, toolCallId, name);
    }
}
