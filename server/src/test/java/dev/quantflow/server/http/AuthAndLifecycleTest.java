package dev.quantflow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** API keys on and off, client disconnects cancelling their sequence, and drain on shutdown. */
class AuthAndLifecycleTest {
    private static final Map<String, Object> PROMPT = Map.of("prompt", "Once upon a time", "max_tokens", 3);

    @Test
    void keysFromConfigAndFileAreRequiredOnTheApiButNotOnProbes(@TempDir Path dir) throws Exception {
        Path keyFile = dir.resolve("keys");
        Files.writeString(keyFile, "# team keys\nfile-key-1\n\n  file-key-2  \n");
        ScriptedEngine engine = new ScriptedEngine();
        try (QuantflowServer server = engine.startServer(Map.of("api-keys", "env-key-a, env-key-b", "api-key-file", keyFile.toString()))) {
            Http anonymous = new Http(server.httpPort());
            Http.Reply r = anonymous.post("/v1/completions", PROMPT);
            assertThat(r.status()).isEqualTo(401);
            assertThat(r.json().get("error").get("code").asText()).isEqualTo("invalid_api_key");
            assertThat(r.header("www-authenticate")).contains("Bearer");
            assertThat(anonymous.get("/v1/models").status()).isEqualTo(401);
            assertThat(anonymous.withKey("wrong").post("/v1/completions", PROMPT).status()).isEqualTo(401);
            assertThat(anonymous.withKey("env-key").post("/v1/completions", PROMPT).status()).isEqualTo(401);
            for (String k : List.of("env-key-a", "env-key-b", "file-key-1", "file-key-2"))
                assertThat(anonymous.withKey(k).post("/v1/completions", PROMPT).status()).as(k).isEqualTo(200);
            assertThat(anonymous.get("/health/ready").status()).isEqualTo(200);
            assertThat(anonymous.get("/metrics").status()).isEqualTo(200);
            assertThat(anonymous.get("/metrics").body()).doesNotContain("env-key-a", "file-key-1");
        }
    }

    @Test
    void noKeysMeansOpen() {
        ScriptedEngine engine = new ScriptedEngine();
        try (QuantflowServer server = engine.startServer(Map.of())) {
            assertThat(new Http(server.httpPort()).post("/v1/completions", PROMPT).status()).isEqualTo(200);
            assertThat(new Http(server.httpPort(), Optional.of("anything")).post("/v1/completions", PROMPT).status()).isEqualTo(200);
        }
    }

    @Test
    void clientThatDisconnectsMidStreamCancelsItsSequence() throws Exception {
        ScriptedEngine engine = new ScriptedEngine();
        engine.tokenDelay = Duration.ofMillis(200);
        try (QuantflowServer server = engine.startServer(Map.of())) {
            Http http = new Http(server.httpPort());
            Http.SseStream s = http.stream("/v1/completions", Map.of("prompt", "Once", "max_tokens", 100, "stream", true));
            assertThat(s.next()).isPresent();
            String id = engine.last().requestId();
            assertThat(engine.active).containsKey(id);
            assertThat(http.get("/metrics").body()).contains("quantflow_num_requests_running{model_name=\"stories260K\"} 1.0");
            s.response.body().close();
            awaitTrue(() -> engine.cancelled.contains(id), Duration.ofSeconds(20));
            assertThat(engine.active).doesNotContainKey(id);
            assertThat(http.get("/metrics").body()).contains("quantflow_num_requests_running{model_name=\"stories260K\"} 0.0", "quantflow_request_success_total{finished_reason=\"abort\",model_name=\"stories260K\"} 1.0");
        }
    }

    @Test
    void drainRefusesNewRequestsFinishesStreamsAndStops() throws Exception {
        ScriptedEngine engine = new ScriptedEngine();
        engine.tokenDelay = Duration.ofMillis(50);
        QuantflowServer server = engine.startServer(Map.of("drain-timeout", "30s"));
        Http http = new Http(server.httpPort());
        try (Http.SseStream s = http.stream("/v1/completions", Map.of("prompt", "Once", "max_tokens", 12, "stream", true, "temperature", 0))) {
            assertThat(s.next()).isPresent();
            var terminated = server.drain().toCompletableFuture();
            assertThat(http.get("/health/ready").status()).isEqualTo(503);
            assertThat(http.get("/health/ready").json().get("draining").asBoolean()).isTrue();
            Http.Reply refused = http.post("/v1/completions", PROMPT);
            assertThat(refused.status()).isEqualTo(503);
            assertThat(refused.json().get("error").get("code").asText()).isEqualTo("draining");
            List<String> rest = s.rest();
            assertThat(rest.getLast()).isEqualTo("[DONE]");
            assertThat(Http.json(rest.get(rest.size() - 2)).get("choices").get(0).get("finish_reason").asText()).isEqualTo("length");
            terminated.get(30, TimeUnit.SECONDS);
        }
        assertThat(engine.isClosed()).isTrue();
        assertThat(engine.cancelled).isEmpty();
    }

    @Test
    void drainTimeoutCutsLongStreams() throws Exception {
        ScriptedEngine engine = new ScriptedEngine();
        engine.tokenDelay = Duration.ofSeconds(1);
        QuantflowServer server = engine.startServer(Map.of("drain-timeout", "1s"));
        Http http = new Http(server.httpPort());
        Http.SseStream s = http.stream("/v1/completions", Map.of("prompt", "Once", "max_tokens", 100, "stream", true));
        assertThat(s.next()).isPresent();
        long t0 = System.nanoTime();
        server.drain().toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
        s.close();
        awaitTrue(() -> !engine.cancelled.isEmpty(), Duration.ofSeconds(10));
    }

    static void awaitTrue(BooleanSupplier cond, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("condition not met within " + timeout);
            Thread.sleep(20);
        }
    }
}
