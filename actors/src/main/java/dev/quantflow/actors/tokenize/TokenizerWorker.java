package dev.quantflow.actors.tokenize;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.protocol.TokenizerCommand.Encode;
import dev.quantflow.actors.protocol.TokenizerCommand.EncodeRejected;
import dev.quantflow.actors.protocol.TokenizerCommand.Encoded;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.chat.ChatTemplateException;
import dev.quantflow.engine.chat.Message;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.List;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One worker of the tokenizer pool: renders chat messages and encodes prompts off the scheduler's
 * thread, and checks what the model cannot take (empty prompts, ids outside the vocabulary).
 */
public final class TokenizerWorker {
    private TokenizerWorker() {}

    /** chatTemplate renders Prompt.Chat (the model's Jinja template, or the plain fallback). */
    public static Behavior<Encode> create(Tokenizer tokenizer, ChatTemplate chatTemplate, int vocabSize) {
        return Behaviors.receiveMessage(e -> {
            try {
                e.replyTo().tell(new Encoded(e.sequence(), encode(tokenizer, chatTemplate, vocabSize, e.prompt())));
            } catch (EngineException ex) {
                e.replyTo().tell(new EncodeRejected(e.sequence(), ex));
            } catch (RuntimeException ex) {
                e.replyTo().tell(new EncodeRejected(e.sequence(),
                        new EngineException(EngineException.Kind.INVALID_REQUEST, "cannot encode the prompt: " + ex.getMessage())));
            }
            return Behaviors.same();
        });
    }

    static int[] encode(Tokenizer tokenizer, int vocabSize, Prompt prompt) {
        return encode(tokenizer, ChatTemplate.plain(), vocabSize, prompt);
    }

    static int[] encode(Tokenizer tokenizer, ChatTemplate chatTemplate, int vocabSize, Prompt prompt) {
        int[] ids = switch (prompt) {
            case Prompt.Text t -> tokenizer.encode(t.text());
            case Prompt.Tokens t -> t.ids().clone();
            case Prompt.Chat c -> encodeChat(tokenizer, chatTemplate, c, false);
        };
        if (ids.length == 0) throw invalid("the prompt is empty (no tokens, and the tokenizer adds no BOS)");
        for (int id : ids)
            if (id < 0 || id >= vocabSize) throw invalid("prompt token id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        return ids;
    }

    /**
     * A chat prompt's ids: the rendered template, encoded with the tokenizer's special tokens (BOS)
     * only for the plain fallback (a real template writes BOS and the like itself, as Hugging Face's
     * apply_chat_template assumes) or when addSpecialTokens asks for them on top (vLLM's /tokenize).
     */
    public static int[] encodeChat(Tokenizer tokenizer, ChatTemplate chatTemplate, Prompt.Chat c, boolean addSpecialTokens) {
        if (c.messages().isEmpty()) throw invalid("a chat prompt needs at least one message");
        List<Message> messages = c.messages().stream()
                .map(m -> new Message(m.role(), m.content(), m.toolCalls().stream().map(t -> new Message.ToolCall(t.id(), t.name(), t.arguments())).toList(),
                        m.toolCallId(), m.name()))
                .toList();
        String text;
        try {
            text = chatTemplate.render(messages, c.addGenerationPrompt(), c.tools(), c.continueFinalMessage());
        } catch (ChatTemplateException ex) {
            throw invalid(ex.getMessage());
        }
        return tokenizer.encode(text, chatTemplate.isPlain() || addSpecialTokens);
    }

    private static EngineException invalid(String message) {
        return new EngineException(EngineException.Kind.INVALID_REQUEST, message);
    }
}
