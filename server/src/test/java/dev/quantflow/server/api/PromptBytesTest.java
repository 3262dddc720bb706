package dev.quantflow.server.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.actors.api.Prompt;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The derived prompt byte limit refuses only prompts that cannot fit: a token never covers more bytes than the longest vocabulary entry. */
class PromptBytesTest {
    private static final List<String> TEXTS = List.of(
            "Once upon a time, there was a little girl named Lily.",
            "                                                                ",
            "\n\n\n\n\t\t\t\t    the the the the the",
            "Grüße, 日本語のテキスト, emoji 🎉🎉🎉 and accents: élève, naïve",
            "<s></s><|endoftext|><|begin_of_text|> special-looking text",
            "def f(x):\n    return x * 2  # ================================================",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K", "models/sotu6M", "tokenizers/llama2", "tokenizers/llama3", "tokenizers/phi2"})
    void noTokenCoversMoreBytesThanTheBound(String dir) {
        Tokenizer t = Tokenizer.fromModelDir(SharedData.path(dir));
        int longest = PromptBytes.longestToken(t);
        for (String text : TEXTS) {
            for (String s : List.of(text, text.repeat(7))) {
                int bytes = s.getBytes(StandardCharsets.UTF_8).length;
                assertThat((long) t.encode(s, false).length * longest).as(dir + ": " + s).isGreaterThanOrEqualTo(bytes);
            }
        }
    }

    @Test
    void checksTextAndChatByUtf8BytesAndAnExplicitCapWins() {
        Tokenizer t = Tokenizer.fromModelDir(SharedData.path("models/stories260K"));
        PromptBytes derived = PromptBytes.of(0, t, 16);
        assertThat(derived.maxBytes()).isEqualTo(16L * PromptBytes.longestToken(t));
        PromptBytes cap = PromptBytes.of(10, t, 16);
        cap.check(new Prompt.Text("é".repeat(5)), "prompt");  // 10 bytes
        assertThatThrownBy(() -> cap.check(new Prompt.Text("é".repeat(5) + "x"), "prompt"))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.error().code()).contains("context_length_exceeded"));
        assertThatThrownBy(() -> cap.check(new Prompt.Text("🎉🎉🎉"), "prompt")).isInstanceOf(ApiException.class);  // 12 bytes, 6 chars
        assertThatThrownBy(() -> cap.check(new Prompt.Chat(List.of(new Prompt.ChatMessage("user", "1234567")), true), "messages"))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.error().param()).contains("messages"));
        // a tool call's name and arguments count, less their JSON whitespace: user x (5) + assistant (9) + f (1) + {"a"} (5) fit in 20
        PromptBytes cap20 = PromptBytes.of(20, t, 16);
        Prompt.ChatMessage user = new Prompt.ChatMessage("user", "x");
        cap20.check(new Prompt.Chat(List.of(user, new Prompt.ChatMessage("assistant", "", List.of(new Prompt.ToolCall("call_1", "f", "{ \"a\"  }")), "", "")), true), "messages");
        assertThatThrownBy(() -> cap20.check(new Prompt.Chat(List.of(user, new Prompt.ChatMessage("assistant", "", List.of(new Prompt.ToolCall("", "f", "{\"ab\"}")), "", "")), true),
                "messages")).isInstanceOf(ApiException.class);
        cap.check(new Prompt.Tokens(new int[100]), "prompt");
    }
}
