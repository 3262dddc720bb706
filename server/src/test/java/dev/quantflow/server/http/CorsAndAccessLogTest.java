package dev.quantflow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.LoggerFactory;

/** CORS (off by default, configured origins only) and the access log with the client's X-Request-Id. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CorsAndAccessLogTest {
    private static final String ORIGIN = "https://app.example.com";
    private static final String BODY = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 3}";
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final ScriptedEngine engine = new ScriptedEngine();
    private QuantflowServer cors;
    private QuantflowServer plain;
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();
    private final Logger accessLogger = (Logger) LoggerFactory.getLogger("quantflow.access");

    @BeforeAll
    void start() {
        accessLogger.setLevel(Level.INFO);
        lines.start();
        accessLogger.addAppender(lines);
        cors = engine.startServer(Map.of("allowed-origins", ORIGIN + ", http://localhost:3000"));
        plain = engine.startServer(Map.of("access-log", false));
    }

    @AfterAll
    void stop() {
        cors.close();
        plain.close();
        accessLogger.detachAppender(lines);
        accessLogger.setLevel(null);
    }

    private HttpResponse<String> send(QuantflowServer s, String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.httpPort() + path)).timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void preflightAndResponsesCarryTheAllowedOrigin() throws Exception {
        HttpResponse<String> pre = send(cors, "OPTIONS", "/v1/chat/completions", null, "Origin", ORIGIN,
                "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type");
        assertThat(pre.statusCode()).isEqualTo(200);
        assertThat(pre.headers().firstValue("Access-Control-Allow-Origin")).contains(ORIGIN);
        assertThat(pre.headers().firstValue("Access-Control-Allow-Methods").orElse("")).contains("POST");
        assertThat(pre.headers().firstValue("Access-Control-Allow-Headers").orElse("").toLowerCase()).contains("authorization");

        HttpResponse<String> post = send(cors, "POST", "/v1/completions", BODY, "Origin", ORIGIN);
        assertThat(post.statusCode()).isEqualTo(200);
        assertThat(post.headers().firstValue("Access-Control-Allow-Origin")).contains(ORIGIN);
        assertThat(post.headers().firstValue("Access-Control-Expose-Headers").orElse("")).containsIgnoringCase("X-Request-Id");
        // errors too: a browser must be able to read them
        HttpResponse<String> missing = send(cors, "GET", "/v1/nothing", null, "Origin", ORIGIN);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(missing.headers().firstValue("Access-Control-Allow-Origin")).contains(ORIGIN);
    }

    @Test
    void otherOriginsAreRefusedAndRequestsWithoutOriginAreUnchanged() throws Exception {
        HttpResponse<String> pre = send(cors, "OPTIONS", "/v1/chat/completions", null, "Origin", "https://evil.example",
                "Access-Control-Request-Method", "POST");
        assertThat(pre.statusCode()).isEqualTo(403);
        assertThat(Http.json(pre.body()).get("error").get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(pre.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
        HttpResponse<String> noOrigin = send(cors, "POST", "/v1/completions", BODY);
        assertThat(noOrigin.statusCode()).isEqualTo(200);
        assertThat(noOrigin.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    }

    @Test
    void corsIsOffByDefault() throws Exception {
        HttpResponse<String> pre = send(plain, "OPTIONS", "/v1/chat/completions", null, "Origin", ORIGIN, "Access-Control-Request-Method", "POST");
        assertThat(pre.statusCode()).isEqualTo(405);
        HttpResponse<String> post = send(plain, "POST", "/v1/completions", BODY, "Origin", ORIGIN);
        assertThat(post.statusCode()).isEqualTo(200);
        assertThat(post.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    }

    @Test
    void everyRequestGetsOneAccessLogLineWithTheClientsRequestId() throws Exception {
        HttpResponse<String> ok = send(cors, "POST", "/v1/completions", BODY, "X-Request-Id", "client-req-42");
        assertThat(ok.statusCode()).isEqualTo(200);
        assertThat(ok.headers().firstValue("X-Request-Id")).contains("client-req-42");
        assertThat(Http.json(ok.body()).get("id").asText()).startsWith("cmpl-");
        String line = awaitLine("request_id=client-req-42 ");
        assertThat(line).contains("method=POST", "path=/v1/completions", "status=200", "prompt_tokens=", "completion_tokens=3", "ttft_ms=", "duration_ms=",
                "client=127.0.0.1:");
        assertThat(line).doesNotContain("prompt_tokens=-");

        HttpResponse<String> stream = send(cors, "POST", "/v1/chat/completions",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 4, \"stream\": true}", "X-Request-Id", "client-stream-7");
        assertThat(stream.statusCode()).isEqualTo(200);
        assertThat(awaitLine("request_id=client-stream-7 ")).contains("status=200", "completion_tokens=4");

        // errors are logged too, with the generated id the response echoes
        HttpResponse<String> bad = send(cors, "POST", "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": -1}");
        assertThat(bad.statusCode()).isEqualTo(400);
        String id = bad.headers().firstValue("X-Request-Id").orElseThrow();
        assertThat(awaitLine("request_id=" + id + " ")).contains("status=400", "prompt_tokens=-");
        HttpResponse<String> notFound = send(cors, "GET", "/nope", null);
        assertThat(awaitLine("request_id=" + notFound.headers().firstValue("X-Request-Id").orElseThrow() + " ")).contains("status=404", "path=/nope");

        // an unusable id (spaces, control characters) is replaced, not logged
        HttpResponse<String> odd = send(cors, "GET", "/health", null, "X-Request-Id", "a b");
        assertThat(odd.headers().firstValue("X-Request-Id").orElseThrow()).startsWith("req-");
    }

    @Test
    void theAccessLogCanBeTurnedOff() throws Exception {
        HttpResponse<String> r = send(plain, "GET", "/health", null, "X-Request-Id", "quiet-one");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("X-Request-Id")).contains("quiet-one");
        send(cors, "GET", "/health", null, "X-Request-Id", "loud-one");
        awaitLine("request_id=loud-one ");
        assertThat(messages()).noneMatch(m -> m.contains("quiet-one"));
    }

    private List<String> messages() {
        // AppenderBase.doAppend adds under the appender's own lock, not the list's
        synchronized (lines) {
            return lines.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        }
    }

    /** The line is written when the response's last byte has left, which may be just after the client has it. */
    private String awaitLine(String containing) throws InterruptedException {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < end) {
            List<String> found = messages().stream().filter(m -> m.contains(containing)).toList();
            if (!found.isEmpty()) {
                assertThat(found).as("one line per request").hasSize(1);
                return found.getFirst();
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no access-log line with '" + containing + "' in " + messages());
    }
}
