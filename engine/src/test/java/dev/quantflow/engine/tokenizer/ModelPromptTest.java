package dev.quantflow.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The prompt ids that independent implementations fed the shared models (BOS=1 included). */
class ModelPromptTest {
    private static void checkPrompts(Tokenizer tokenizer, String referenceFile) throws IOException {
        JsonNode cases = new ObjectMapper().readTree(SharedData.path(referenceFile).toFile()).path("cases");
        assertThat(cases.size()).isGreaterThanOrEqualTo(4);
        for (JsonNode c : cases) {
            JsonNode expected = c.path("prompt_tokens");
            int[] ids = new int[expected.size()];
            for (int i = 0; i < ids.length; i++) ids[i] = expected.get(i).asInt();
            String prompt = c.path("prompt").asText();
            assertThat(tokenizer.encode(prompt)).as("\"%s\"", prompt).containsExactly(ids);
            assertThat(tokenizer.decode(ids)).isEqualTo(prompt);
        }
    }

    @Test
    void stories260K() throws IOException {
        Tokenizer t = TestTokenizers.stories260K();
        assertThat(t.encode("Once upon a time")).containsExactly(1, 403, 407, 261, 378);
        assertThat(t.vocabSize()).isEqualTo(512);
        assertThat(t.bosTokenId()).hasValue(1);
        assertThat(t.eosTokenIds()).containsExactly(2);
        checkPrompts(t, "reference/stories260K-greedy.json");
    }

    @Test
    void sotu6M() throws IOException {
        Tokenizer t = TestTokenizers.sotu6M();
        assertThat(t.vocabSize()).isEqualTo(4096);
        assertThat(t.encode("The President")).containsExactly(1, 357, 1176);
        assertThat(t.eosTokenIds()).containsExactly(2);
        checkPrompts(t, "reference/sotu6M-greedy.json");
    }

    @Test
    void greedyContinuationsDecodeToTheReferenceText() throws IOException {
        Tokenizer t = TestTokenizers.sotu6M();
        JsonNode first = new ObjectMapper().readTree(SharedData.path("reference/sotu6M-greedy.json").toFile()).path("cases").get(0);
        JsonNode generated = first.path("generated_tokens");
        IncrementalDetokenizer d = t.newDetokenizer();
        StringBuilder sb = new StringBuilder();
        for (JsonNode id : first.path("prompt_tokens")) sb.append(d.push(id.asInt()));
        StringBuilder continuation = new StringBuilder();
        for (JsonNode id : generated) continuation.append(d.push(id.asInt()));
        continuation.append(d.flush());
        assertThat(sb.toString()).isEqualTo(first.path("prompt").asText());
        assertThat(continuation.toString().strip()).isEqualTo(first.path("text").asText().strip());
    }
}
