package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.progress.Progress;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

/**
 * Every scheme and --format that `quantize` writes is served by `serve` on 1 and 2 stages, with
 * the greedy text `generate` prints for the same directory. stories260K for our format; sotu6M for
 * the AutoGPTQ/AutoAWQ layouts, which pack 8 codes per int32 and so need dimensions divisible by 8.
 */
class QuantizedServeTest {
    private static final String PROMPT = "Once upon a time";
    private static final int MAX_TOKENS = 24;

    @TempDir
    static Path tmp;

    static Stream<Arguments> table() {
        List<Arguments> rows = new ArrayList<>();
        for (String s : List.of("fp32", "bf16", "w8a16", "w8a8-tensor", "w8a8-dynamic", "llm-int8", "smoothquant", "w4a16-rtn", "w4a16-gptq", "w4a16-awq"))
            rows.add(Arguments.of("stories260K", s, "quantflow"));
        for (String s : List.of("w4a16-rtn", "w4a16-gptq", "w4a16-awq")) rows.add(Arguments.of("sotu6M", s, "gptq"));
        for (String s : List.of("w4a16-rtn", "w4a16-awq")) rows.add(Arguments.of("sotu6M", s, "awq"));
        return rows.stream();
    }

    @ParameterizedTest(name = "{0} {1} --format {2}")
    @MethodSource("table")
    void quantizedOutputServesWhatGenerateGenerates(String model, String scheme, String format) {
        Path out = tmp.resolve(model + "-" + scheme + "-" + format);
        QuantCommandsTest.Run q = QuantCommandsTest.run("quantize", "--model", QuantCommandsTest.shared("models/" + model), "--quant", scheme,
                "--format", format, "--calib", QuantCommandsTest.shared("data/" + model + "-calib.txt"), "--calib-tokens", "256", "--out", out.toString());
        assertThat(q.code()).as(q.err()).isZero();
        QuantCommandsTest.Run g = QuantCommandsTest.run("generate", "--model", out.toString(), "--prompt", PROMPT, "--max-tokens", String.valueOf(MAX_TOKENS));
        assertThat(g.code()).as(g.err()).isZero();
        String expected = g.out().substring(0, g.out().length() - System.lineSeparator().length());
        assertThat(expected).isNotBlank();
        for (int stages : new int[] {1, 2}) assertThat(served(out, stages)).as(stages + " stage(s)").isEqualTo(expected);
    }

    /** The greedy completion of `serve --model dir --stages N`, over HTTP. */
    private static String served(Path dir, int stages) {
        ServeCommand serve = new ServeCommand();
        new CommandLine(serve).parseArgs("--model", dir.toString(), "--stages", String.valueOf(stages), "--host", "127.0.0.1", "--port", "0",
                "--grpc-port", "-1", "--max-seqs", "4");
        QuantflowServer server = serve.startServing(s -> {}, Progress.NONE);
        try {
            TestServers.awaitReady(server, Duration.ofSeconds(60));
            Http.Reply r = new Http(server.httpPort()).post("/v1/completions",
                    Map.of("model", dir.getFileName().toString(), "prompt", PROMPT, "max_tokens", MAX_TOKENS, "temperature", 0));
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            return r.json().get("choices").get(0).get("text").asText();
        } finally {
            server.close();
        }
    }
}
