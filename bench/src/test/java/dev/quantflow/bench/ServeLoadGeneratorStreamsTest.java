package dev.quantflow.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The load generator against the stream shapes of the servers it is meant to measure side by side
 * (src/test/resources/streams: OpenAI, vLLM and llama-server as their documentation and source
 * write them, and the SSE spec's edges), each served over real HTTP as recorded, byte for byte.
 */
class ServeLoadGeneratorStreamsTest {
    private static HttpServer server;

    @BeforeAll
    static void serveFixtures() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        // the fixture is named by the prompt's model field: /v1/completions with model "<fixture>"
        server.createContext("/v1/completions", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes());
            String name = body.replaceAll(".*\"model\":\"([^\"]+)\".*", "$1");
            try (InputStream in = ServeLoadGeneratorStreamsTest.class.getResourceAsStream("/streams/" + name + ".sse")) {
                byte[] stream = in.readAllBytes();
                exchange.getResponseHeaders().add("Content-Type", "text/event-stream");
                exchange.sendResponseHeaders(200, 0);
                try (OutputStream out = exchange.getResponseBody()) {
                    // a few bytes at a time, so lines and CRLFs are split across reads
                    for (int i = 0; i < stream.length; i += 7) {
                        out.write(stream, i, Math.min(7, stream.length - i));
                        out.flush();
                    }
                }
            }
        });
        server.start();
    }

    @AfterAll
    static void stop() {
        server.stop(0);
    }

    private static ServeLoadGenerator.RequestResult request(String fixture) {
        ServeLoadGenerator load = new ServeLoadGenerator(new ServeLoadGenerator.Settings(
                URI.create("http://127.0.0.1:" + server.getAddress().getPort()), Optional.empty(), Optional.of(fixture), 5,
                List.of("Once upon a"), Duration.ofSeconds(10)));
        return load.request(0, System.nanoTime());
    }

    @ParameterizedTest
    @ValueSource(strings = {"openai-completions", "vllm-completions", "vllm-continuous-usage", "llama-server-completions",
            "llama-server-no-done", "spec-edges-crlf"})
    void acceptsTheStreamShapeOf(String fixture) {
        ServeLoadGenerator.RequestResult r = request(fixture);
        assertThat(r.error()).isEmpty();
        assertThat(r.ok()).isTrue();
        assertThat(r.text()).isEqualTo(" time, there was a");
        assertThat(r.completionTokens()).isEqualTo(5);
        assertThat(r.firstToken()).isBetween(r.sent(), r.done());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "truncated          | stream ended without a finish_reason",
            "error-event        | stream error: engine stopped",
            "llama-server-error | stream error: slot unavailable"})
    void failsAStreamThat(String fixture, String error) {
        ServeLoadGenerator.RequestResult r = request(fixture);
        assertThat(r.ok()).isFalse();
        assertThat(r.error()).isEqualTo(error);
    }
}
