package dev.quantflow.actors.api;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import java.util.List;

/** What to generate from: raw text (encoded by the model's tokenizer), token ids, or chat messages. Plain data: it travels to the tokenizer pool. */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "t")
@JsonSubTypes({@JsonSubTypes.Type(value = Prompt.Text.class, name = "text"), @JsonSubTypes.Type(value = Prompt.Tokens.class, name = "tokens"),
        @JsonSubTypes.Type(value = Prompt.Chat.class, name = "chat")})
public sealed interface Prompt {
    record Text(String text) implements Prompt {}

    record Tokens(int[] ids) implements Prompt {}

    /**
     * Rendered with the model's chat template (tokenizer_config.json), then encoded; tools: OpenAI's
     * tools list as JSON text, "" for none; continueFinalMessage: the prompt ends inside the last
     * message (vLLM's continue_final_message), which excludes addGenerationPrompt.
     */
    record Chat(List<ChatMessage> messages, boolean addGenerationPrompt, String tools, boolean continueFinalMessage) implements Prompt {
        public Chat(List<ChatMessage> messages, boolean addGenerationPrompt, String tools) {
            this(messages, addGenerationPrompt, tools, false);
        }

        public Chat(List<ChatMessage> messages, boolean addGenerationPrompt) {
            this(messages, addGenerationPrompt, "");
        }
    }

    /**
     * OpenAI's chat message: an assistant turn may carry its tool calls, a tool message the id of
     * the call it answers and the tool's name ("" when absent).
     */
    record ChatMessage(String role, String content, List<ToolCall> toolCalls, String toolCallId, String name) {
        public ChatMessage {
            toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
            if (toolCallId == null) toolCallId = "";
            if (name == null) name = "";
        }

        public ChatMessage(String role, String content) {
            this(role, content, List.of(), "", "");
        }
    }

    /** A call in an assistant turn: its id ("" when absent), the function's name, its arguments as JSON text. */
    record ToolCall(String id, String name, String arguments) {}
}
