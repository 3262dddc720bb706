package dev.quantflow.engine.chat;

/** A chat template that cannot be parsed or rendered, or that refused the messages (raise_exception). */
public final class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message) {
        super(message);
    }
}
