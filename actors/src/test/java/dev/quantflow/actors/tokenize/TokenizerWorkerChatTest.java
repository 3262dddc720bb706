package dev.quantflow.actors.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Chat prompts go through the model's chat template, and BOS is neither lost nor doubled. */
class TokenizerWorkerChatTest {
    @Test
    void aRealTemplateWritesItsOwnBos() {
        Path dir = SharedData.path("tokenizers/llama3");
        Tokenizer t = Tokenizer.fromModelDir(dir);
        int[] ids = TokenizerWorker.encode(t, ChatTemplate.fromModelDir(dir), t.vocabSize(),
                new Prompt.Chat(List.of(new Prompt.ChatMessage("user", "Hello")), true));
        assertThat(ids[0]).isEqualTo(128000);
        assertThat(Arrays.stream(ids).filter(i -> i == 128000).count()).isEqualTo(1);
        assertThat(t.decode(ids)).endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n");
    }

    @Test
    void thePlainFallbackGetsTheTokenizersBos() {
        Path dir = SharedData.path("models/stories260K");
        Tokenizer t = Tokenizer.fromModelDir(dir);
        int[] ids = TokenizerWorker.encode(t, ChatTemplate.fromModelDir(dir), t.vocabSize(),
                new Prompt.Chat(List.of(new Prompt.ChatMessage("user", "Hi")), true));
        assertThat(ids).isEqualTo(t.encode("user: Hi\nassistant:"));
        assertThat(ids[0]).isEqualTo(t.bosTokenId().orElseThrow());
    }

    @Test
    void aTemplateThatRefusesIsAnInvalidRequest() {
        Tokenizer t = Tokenizer.fromModelDir(SharedData.path("models/stories260K"));
        ChatTemplate strict = ChatTemplate.of("{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}", "<s>", "</s>");
        assertThatThrownBy(() -> TokenizerWorker.encode(t, strict, t.vocabSize(), new Prompt.Chat(List.of(new Prompt.ChatMessage("system", "x")), true)))
                .isInstanceOfSatisfying(EngineException.class, e -> assertThat(e.kind()).isEqualTo(EngineException.Kind.INVALID_REQUEST))
                .hasMessage("first message must be from the user");
    }
}
