package dev.quantflow.engine.chat;

/** One chat message: a role (system, user, assistant, ...) and its text. */
public record Message(String role, String content) {
    public Message {
        if (role == null) throw new IllegalArgumentException("a chat message needs a role");
        if (content == null) content = "";
    }
}
