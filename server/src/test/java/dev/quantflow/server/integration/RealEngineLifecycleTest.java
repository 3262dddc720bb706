package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.actors.stage.StageFaults;
import dev.quantflow.actors.stage.StageHooks;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The real engine slowed to ~5 ms per step (a stage hook), so that requests are still running
 * when the test acts: a client disconnect frees its sequence and KV blocks (seen in /metrics), a
 * full queue answers 429 with Retry-After, and a drain lets the in-flight stream finish exactly.
 */
class RealEngineLifecycleTest {
    private static final StageFaults SLOW = (stage, step, rows) -> {
        try {
            Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    };

    private static QuantflowServer start(EngineConfig.Builder engine, Map<String, Object> server) {
        return TestServers.start(PipelineEngine.start(engine.build(), StageHooks.DEFAULT.withFaults(SLOW)), server);
    }

    private static Map<String, Object> streaming(String prompt, int maxTokens) {
        return Map.of("prompt", prompt, "max_tokens", maxTokens, "temperature", 0, "stream", true, "ignore_eos", true);
    }

    /** The second request of the same long prompt finds its full blocks cached: the hit counters show it, in tokens. */
    @Test
    void aRepeatedPromptIsServedFromThePrefixCacheSeenInMetrics() throws Exception {
        try (QuantflowServer server = TestServers.start(PipelineEngine.start(EngineConfig.builder(Reference.MODEL).build()), Map.of())) {
            Http http = new Http(server.httpPort());
            String prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine with her dog";
            Map<String, Object> body = Map.of("prompt", prompt, "max_tokens", 4, "temperature", 0);
            String first = http.post("/v1/completions", body).json().get("choices").get(0).get("text").asText();
            String second = http.post("/v1/completions", body).json().get("choices").get(0).get("text").asText();
            assertThat(second).isEqualTo(first);
            long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            String metrics = http.get("/metrics").body();
            while (value(metrics, "quantflow_prefix_cache_hits_total{model_name=\"stories260K\"}") == 0 && System.nanoTime() < end) {
                Thread.sleep(20);
                metrics = http.get("/metrics").body();
            }
            double hits = value(metrics, "quantflow_prefix_cache_hits_total{model_name=\"stories260K\"}"), queries = value(metrics, "quantflow_prefix_cache_queries_total{model_name=\"stories260K\"}");
            assertThat(hits).as("whole 16-token blocks of the repeated prompt").isPositive();
            assertThat(hits % 16).isZero();
            assertThat(queries).isGreaterThan(hits);
            assertThat(value(metrics, "quantflow_kv_cache_blocks_cached{model_name=\"stories260K\"}")).isPositive();
        }
    }

    @Test
    void aDisconnectFreesTheSequenceSeenInMetrics() throws Exception {
        try (QuantflowServer server = start(EngineConfig.builder(Reference.MODEL), Map.of())) {
            Http http = new Http(server.httpPort());
            Http.SseStream s = http.stream("/v1/completions", streaming("Once", 400));
            assertThat(s.next()).isPresent();
            String metrics = http.get("/metrics").body();
            assertThat(value(metrics, "quantflow_num_requests_running{model_name=\"stories260K\"}")).isEqualTo(1.0);
            assertThat(value(metrics, "quantflow_kv_cache_blocks_used{model_name=\"stories260K\"}")).isPositive();
            assertThat(value(metrics, "quantflow_kv_cache_usage_perc{model_name=\"stories260K\"}")).isPositive();
            s.response.body().close();
            long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (value(http.get("/metrics").body(), "quantflow_num_requests_running{model_name=\"stories260K\"}") != 0 && System.nanoTime() < end) Thread.sleep(20);
            metrics = http.get("/metrics").body();
            assertThat(value(metrics, "quantflow_num_requests_running{model_name=\"stories260K\"}")).isZero();
            assertThat(value(metrics, "quantflow_kv_cache_blocks_used{model_name=\"stories260K\"}")).isZero();
            assertThat(value(metrics, "quantflow_request_success_total{finished_reason=\"abort\",model_name=\"stories260K\"}")).isEqualTo(1.0);
            // far fewer tokens than the 400 asked for were generated before the sequence was freed
            assertThat(value(metrics, "quantflow_generation_tokens_total{model_name=\"stories260K\"}")).isLessThan(300);
        }
    }

    @Test
    void aFullQueueIs429WithRetryAfter() throws Exception {
        try (QuantflowServer server = start(EngineConfig.builder(Reference.MODEL).maxSequences(1).maxWaiting(1), Map.of("retry-after", "2s"))) {
            Http http = new Http(server.httpPort());
            try (Http.SseStream running = http.stream("/v1/completions", streaming("Once", 300));
                 Http.SseStream waiting = http.stream("/v1/completions", streaming("Once", 300))) {
                assertThat(running.status()).isEqualTo(200);
                assertThat(waiting.status()).isEqualTo(200);
                Http.Reply refused = http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 3));
                assertThat(refused.status()).isEqualTo(429);
                assertThat(refused.header("retry-after")).contains("2");
                assertThat(refused.json().get("error").get("type").asText()).isEqualTo("rate_limit_error");
                assertThat(http.get("/metrics").body()).contains("quantflow_num_requests_waiting{model_name=\"stories260K\"} 1.0");
            }
        }
    }

    @Test
    void drainFinishesTheInFlightStreamExactlyThenStops() throws Exception {
        try (Reference reference = new Reference()) {
            GenerateResult ref = reference.greedy("Once upon a time", 120);
            QuantflowServer server = start(EngineConfig.builder(Reference.MODEL), Map.of("drain-timeout", "60s"));
            Http http = new Http(server.httpPort());
            try (Http.SseStream s = http.stream("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 120, "temperature", 0, "stream", true))) {
                StringBuilder text = new StringBuilder(Http.json(s.next().orElseThrow()).get("choices").get(0).get("text").asText());
                var stopped = server.drain().toCompletableFuture();
                assertThat(http.get("/health/ready").status()).isEqualTo(503);
                Http.Reply refused = http.post("/v1/completions", Map.of("prompt", "Hi"));
                assertThat(refused.status()).isEqualTo(503);
                List<String> rest = s.rest();
                assertThat(rest.getLast()).isEqualTo("[DONE]");
                for (String d : rest.subList(0, rest.size() - 1)) {
                    JsonNode c = Http.json(d);
                    text.append(c.get("choices").get(0).get("text").asText());
                }
                assertThat(text.toString()).isEqualTo(ref.text());
                stopped.get(60, TimeUnit.SECONDS);
            }
        }
    }

    static double value(String metrics, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " ([0-9.eE+-]+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }
}
