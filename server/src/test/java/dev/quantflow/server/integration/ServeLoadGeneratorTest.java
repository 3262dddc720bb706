package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.bench.ServeLoadGenerator;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** bench serve's load generator against a server: counts, percentiles, and that it notices errors and wrong texts. */
class ServeLoadGeneratorTest {
    @Test
    void countsRequestsTokensErrorsAndMismatches() throws Exception {
        ScriptedEngine engine = new ScriptedEngine();
        try (QuantflowServer server = engine.startServer(Map.of("api-keys", "k"))) {
            ServeLoadGenerator load = new ServeLoadGenerator(new ServeLoadGenerator.Settings(URI.create("http://127.0.0.1:" + server.httpPort()),
                    Optional.of("k"), Optional.of("stories260K"), 8, List.of("Once upon a time", "The dog"), Duration.ofSeconds(60)));
            List<String> refs = load.references();
            assertThat(refs).containsOnly(engine.scriptText(8));
            List<ServeLoadGenerator.Progress> progress = new ArrayList<>();
            ServeLoadGenerator.LevelResult r = load.run(4, 20, Duration.ZERO, refs, progress::add);
            assertThat(r.requests()).isEqualTo(20);
            assertThat(r.errors()).isZero();
            assertThat(r.mismatches()).isZero();
            assertThat(r.generatedTokens()).isEqualTo(20 * 8);
            assertThat(r.ttft().p50()).isPositive().isLessThanOrEqualTo(r.ttft().p99());
            assertThat(r.e2e().p99()).isGreaterThanOrEqualTo(r.ttft().p99());
            assertThat(r.json().get("ttft_p50_ms").asDouble()).isPositive();
            assertThat(r.json().fieldNames()).toIterable().contains("concurrency", "requests", "tokens_per_second", "ttft_p50_ms", "ttft_p99_ms",
                    "tpot_p50_ms", "tpot_p99_ms", "errors");

            ServeLoadGenerator.LevelResult wrong = load.run(2, 4, Duration.ZERO, List.of("not it", "not it"), p -> {});
            assertThat(wrong.mismatches()).isEqualTo(4);

            ServeLoadGenerator.LevelResult timed = load.run(2, 0, Duration.ofMillis(500), refs, p -> {});
            assertThat(timed.requests()).isPositive();
            assertThat(timed.seconds()).isGreaterThanOrEqualTo(0.5);

            engine.overloaded = true;
            ServeLoadGenerator.LevelResult refused = load.run(2, 6, Duration.ZERO, refs, p -> {});
            assertThat(refused.errors()).isEqualTo(6);
            assertThat(refused.errorKinds().keySet()).allSatisfy(k -> assertThat(k).startsWith("HTTP 429"));
        }
    }
}
