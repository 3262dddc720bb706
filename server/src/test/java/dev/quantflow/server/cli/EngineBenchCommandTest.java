package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import dev.quantflow.gpu.CudaRuntime;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** bench engine on the real stories260K: the JSON lines the issue specifies, and one-line errors. */
class EngineBenchCommandTest {
    static final String MODEL = SharedData.path("models/stories260K").toString();

    @Test
    void jsonModePrintsOneObjectPerLevelWithTheAgreedKeys() throws Exception {
        Cli.Result r = Cli.run("bench", "engine", "--model", MODEL, "--concurrency", "1,3", "--max-tokens", "8", "--requests", "3",
                "--warmup-requests", "0", "--stages", "2", "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        List<JsonNode> levels = new ArrayList<>();
        for (String line : r.out().strip().split("\\R")) levels.add(new ObjectMapper().readTree(line));
        assertThat(levels).hasSize(2);
        for (JsonNode level : levels) {
            List<String> keys = new ArrayList<>();
            level.fieldNames().forEachRemaining(keys::add);
            assertThat(keys).containsExactly("concurrency", "requests", "tokens_per_second", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms",
                    "tpot_p99_ms", "errors");
            assertThat(level.path("requests").asInt()).isEqualTo(3);
            assertThat(level.path("errors").asInt()).isZero();
            assertThat(level.path("tokens_per_second").asDouble()).isPositive();
            assertThat(level.path("ttft_p99_ms").asDouble()).isGreaterThanOrEqualTo(level.path("ttft_p50_ms").asDouble());
        }
        assertThat(levels.get(1).path("concurrency").asInt()).isEqualTo(3);
        assertThat(r.err()).contains("stage busy").contains("bubble bound");
    }

    /**
     * As a user runs it, in its own JVM (in this one SLF4J is long initialized): the table's
     * columns are explained and stderr carries no SLF4J start-up noise.
     */
    @Test
    void theTableExplainsItsColumnsAndStderrHasNoSlf4jWarnings() throws Exception {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(javaBin, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-cp", System.getProperty("java.class.path"), "dev.quantflow.server.cli.Main",
                "bench", "engine", "--model", MODEL, "--concurrency", "1,2", "--max-tokens", "4", "--requests", "2", "--warmup-requests", "0")
                .redirectOutput(ProcessBuilder.Redirect.PIPE).start();
        var err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        String out = read(p.getInputStream());
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(err.get()).isZero();
        assertThat(err.get()).doesNotContain("SLF4J").contains("vs c=1: aggregate tokens/s over the concurrency-1 level's");
        assertThat(out.lines().findFirst().orElseThrow()).contains("vs c=1").doesNotContain("x1");
        assertThat(out.lines().skip(1).toList()).hasSize(2).allSatisfy(l -> assertThat(l.trim().split("\\s+")).hasSizeGreaterThan(8));
    }

    private static String read(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void badFlagsAreOneLineErrors() {
        Cli.Result r = Cli.run("bench", "engine", "--model", MODEL, "--concurrency", "0");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.errLines()).containsExactly("quantflow: --concurrency levels must be >= 1");
        if (CudaRuntime.probe() instanceof CudaRuntime.Unavailable) {   // with a card the stage would load
            Cli.Result d = Cli.run("bench", "engine", "--model", MODEL, "--devices", "cuda:0");
            assertThat(d.exit()).isEqualTo(2);
            assertThat(d.errLines()).singleElement().asString().contains("on cuda:0) failed to load").contains("cuda:0 is not available");
        }
        Cli.Result p = Cli.run("bench", "engine", "--model", MODEL, "--max-tokens", "600");
        assertThat(p.exit()).isEqualTo(2);
        assertThat(p.err()).contains("exceed the 512 positions");
    }
}
