package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.actors.stage.StageFaults;
import dev.quantflow.actors.stage.StageHooks;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The real engine (~5 ms a step): a non-streamed request whose client closes its connection stops
 * generating at once, frees its sequence and is counted as an abort; until the fix it generated
 * all its tokens into the closed connection.
 */
class RealEngineDisconnectTest {
    private static final StageFaults SLOW = (stage, step, rows) -> {
        try {
            Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    };

    @Test
    void aNonStreamedRequestWhoseClientLeftStopsGenerating() throws Exception {
        try (QuantflowServer server = TestServers.start(PipelineEngine.start(EngineConfig.builder(Reference.MODEL).build(), StageHooks.DEFAULT.withFaults(SLOW)), Map.of())) {
            Http http = new Http(server.httpPort());
            byte[] body = "{\"prompt\": \"Once\", \"max_tokens\": 400, \"temperature\": 0, \"ignore_eos\": true}".getBytes(StandardCharsets.UTF_8);
            double tokensBefore = tokens(http);
            try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
                OutputStream out = s.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (tokens(http) - tokensBefore < 20 && System.nanoTime() < end) Thread.sleep(5);
                assertThat(tokens(http) - tokensBefore).as("generating").isGreaterThanOrEqualTo(20);
            }
            long end = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (running(http) != 0 && System.nanoTime() < end) Thread.sleep(5);
            assertThat(running(http)).as("freed within 2 s of the close").isZero();
            double generated = tokens(http) - tokensBefore;
            Thread.sleep(300);
            assertThat(tokens(http) - tokensBefore).as("no token after the sequence was freed").isEqualTo(generated);
            assertThat(generated).as("far fewer than the 400 asked for").isLessThan(300);
            String metrics = http.get("/metrics").body();
            assertThat(RealEngineLifecycleTest.value(metrics, "quantflow_request_success_total{finished_reason=\"abort\",model_name=\"stories260K\"}")).isEqualTo(1.0);
            assertThat(RealEngineLifecycleTest.value(metrics, "quantflow_kv_cache_blocks_used{model_name=\"stories260K\"}")).isZero();
        }
    }

    private static double tokens(Http http) {
        double v = RealEngineLifecycleTest.value(http.get("/metrics").body(), "quantflow_generation_tokens_total{model_name=\"stories260K\"}");
        return Double.isNaN(v) ? 0 : v;
    }

    private static double running(Http http) {
        return RealEngineLifecycleTest.value(http.get("/metrics").body(), "quantflow_num_requests_running{model_name=\"stories260K\"}");
    }
}
