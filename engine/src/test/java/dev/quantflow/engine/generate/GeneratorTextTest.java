package dev.quantflow.engine.generate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** What `generate` prints continues the prompt: decode(prompt + generated) minus decode(prompt) (issue 11 item 2). */
class GeneratorTextTest {
    @Test
    void generatedTextContinuesThePromptsText() {
        try (LlamaModel m = LlamaModel.open(SharedData.path("models/stories260K"))) {
            Tokenizer t = m.tokenizer();
            Generator g = new Generator(m.full(LinearFactory.DENSE), t);
            for (String p : new String[] {"Once upon a", "The little dog", "Lily and Ben went to the"}) {
                int[] prompt = t.encode(p);
                StringBuilder streamed = new StringBuilder();
                GenerateResult r = g.generate(prompt, GenerateOptions.greedy(16), (id, delta) -> streamed.append(delta));
                int[] all = IntStream.concat(IntStream.of(prompt), IntStream.of(r.tokens())).toArray();
                String expected = t.decode(all).substring(t.decode(prompt).length());
                assertThat(expected).as(p).startsWith(" ");
                assertThat(r.text()).as(p).isEqualTo(expected);
                assertThat(streamed.toString()).as(p).isEqualTo(expected);
            }
        }
    }
}
