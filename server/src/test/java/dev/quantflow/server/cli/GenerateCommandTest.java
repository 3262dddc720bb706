package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;

/** generate on the real stories260K: stdout is only the completion, timings go to stderr. */
class GenerateCommandTest {
    static final String MODEL = SharedData.path("models/stories260K").toString();

    static JsonNode onceUponATime() throws Exception {
        for (JsonNode c : new ObjectMapper().readTree(SharedData.path("reference/stories260K-greedy.json").toFile()).path("cases"))
            if (c.path("prompt").asText().equals("Once upon a time")) return c;
        throw new AssertionError("reference case missing");
    }

    @Test
    void idsAreTheLlama2cReference() throws Exception {
        JsonNode ref = onceUponATime();
        String expected = StreamSupport.stream(ref.path("generated_tokens").spliterator(), false)
                .map(JsonNode::asText).collect(Collectors.joining(" "));
        Cli.Result r = Cli.run("generate", "--model", MODEL, "--prompt", "Once upon a time", "--max-tokens", "60", "--ids");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo(expected + System.lineSeparator());
        assertThat(r.err()).containsPattern("generated 60 tokens, [0-9.]+ tokens/s");
    }

    @Test
    void stdoutIsOnlyTheGeneratedText() throws Exception {
        JsonNode ref = onceUponATime();
        Cli.Result r = Cli.run("generate", "--model", MODEL, "--prompt", "Once upon a time", "--max-tokens", "60");
        assertThat(r.exit()).as(r.err()).isZero();
        // run.c prints the prompt, then the same 60 tokens, then a newline
        String runC = ref.path("run_c_stdout").asText();
        assertThat(runC).startsWith("Once upon a time");
        assertThat(r.out()).isEqualTo(runC.substring("Once upon a time".length()).stripTrailing() + System.lineSeparator());
        assertThat(r.errLines()).hasSize(1);
        assertThat(r.err()).containsPattern("^load [0-9.]+ s \\| prompt 5 tokens, [0-9.]+ tokens/s \\| generated 60 tokens, [0-9.]+ tokens/s \\| finish length");
    }

    /** The server's rules and messages (SamplingParams, GenerateOptions), before the model is loaded; exit 2, one line. */
    @Test
    void samplingOptionsAreValidatedAsTheServerDoes() {
        String[][] cases = {
                {"--temperature", "9", "--temperature: temperature must be between 0 and 2, got 9.0"},
                {"--temperature", "-0.5", "--temperature: temperature must be between 0 and 2, got -0.5"},
                {"--top-p", "1e-300", "--top-p: top_p must be in (0, 1], got 1.0E-300 (0 as a 32-bit float)"},
                {"--top-p", "1.5", "--top-p: top_p must be in (0, 1], got 1.5"},
                {"--top-k", "-2", "--top-k: top_k must be -1 or 0 (off)"},
                {"--min-p", "2", "--min-p: min_p must be between 0 and 1, got 2.0"},
                {"--max-tokens", "0", "--max-tokens: max_tokens must be at least 1, got 0"},
                {"--stop", "", "--stop: stop strings must not be empty"}};
        for (String[] c : cases) {
            Cli.Result r = Cli.run("generate", "--model", MODEL, "--prompt", "Once", c[0], c[1]);
            assertThat(r.exit()).as("%s %s: %s", c[0], c[1], r.err()).isEqualTo(2);
            assertThat(r.errLines()).as(r.err()).hasSize(1);
            assertThat(r.err()).startsWith("quantflow: " + c[2]);
            assertThat(r.out()).isEmpty();
        }
        Cli.Result ok = Cli.run("generate", "--model", MODEL, "--prompt", "Once", "--max-tokens", "4", "--temperature", "2", "--top-k", "-1",
                "--min-p", "0.1", "--seed", "3", "--ids", "--ignore-eos");
        assertThat(ok.exit()).as(ok.err()).isZero();
        assertThat(ok.out().trim().split(" ")).hasSize(4);
    }

    @Test
    void samplingWithASeedIsReproducible() {
        String[] args = {"generate", "--model", MODEL, "--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "0.8", "--seed", "7", "--ids", "--ignore-eos"};
        Cli.Result a = Cli.run(args), b = Cli.run(args);
        assertThat(a.exit()).isZero();
        assertThat(a.out()).isEqualTo(b.out());
        assertThat(a.out().trim().split(" ")).hasSize(40);
        args[args.length - 3] = "8";
        Cli.Result other = Cli.run(args);
        assertThat(other.out()).as("another seed samples another story").isNotEqualTo(a.out());
        Cli.Result greedy = Cli.run("generate", "--model", MODEL, "--prompt", "Once upon a time", "--max-tokens", "40", "--ids", "--ignore-eos");
        assertThat(a.out()).as("temperature 0.8 is not greedy").isNotEqualTo(greedy.out());
    }
}
