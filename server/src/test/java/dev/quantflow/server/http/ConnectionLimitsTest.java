package dev.quantflow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServiceClient;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.grpc.GrpcClientSettings;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Idle and slow clients cannot take the server offline: more idle connections than the limit
 * leave the probes (on the admin listener) and normal requests answered; a client that sends its
 * headers a byte at a time is cut off; a connection with a request in flight is never idled out.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConnectionLimitsTest {
    private static final int LIMIT = 8;
    private ScriptedEngine engine;
    private QuantflowServer server;

    @BeforeAll
    void start() {
        engine = new ScriptedEngine();
        server = engine.startServer(Map.of("max-connections", LIMIT, "header-read-timeout", "1s", "keep-alive-timeout", "2s", "admin-port", 0));
    }

    @AfterAll
    void stop() {
        server.close();
    }

    @Test
    void moreIdleConnectionsThanTheLimitLeaveProbesAndRequestsAnswered() throws Exception {
        List<Socket> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 3 * LIMIT; i++) idle.add(new Socket("127.0.0.1", server.httpPort()));
            Http admin = new Http(server.adminPort().orElseThrow());
            long t0 = System.nanoTime();
            assertThat(admin.get("/health/ready").status()).isEqualTo(200);
            assertThat(admin.get("/metrics").status()).isEqualTo(200);
            assertThat(admin.get("/v1/models").status()).isEqualTo(404);
            // the API port too: a new connection closes the longest-idle one, well before any timeout
            Http.Reply r = new Http(server.httpPort()).post("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 3));
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            assertThat(new Http(server.httpPort()).get("/health/live").status()).isEqualTo(200);
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofMillis(1500));
            assertThat(closedByServer(idle.getFirst(), Duration.ofSeconds(5))).isTrue();
        } finally {
            for (Socket s : idle) s.close();
        }
    }

    @Test
    void atTheLimitWithEveryConnectionBusyANewOneIsClosedAndTheBusyOnesFinish() throws Exception {
        engine.tokenDelay = Duration.ofMillis(200);
        List<Http.SseStream> busy = new ArrayList<>();
        try {
            for (int i = 0; i < LIMIT; i++) {
                Http.SseStream s = new Http(server.httpPort()).stream("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 12, "stream", true));
                assertThat(s.next()).isPresent();
                busy.add(s);
            }
            try (Socket extra = new Socket("127.0.0.1", server.httpPort())) {
                assertThat(closedByServer(extra, Duration.ofSeconds(1))).as("the connection beyond the limit").isTrue();
            }
            assertThat(new Http(server.adminPort().orElseThrow()).get("/health/live").status()).isEqualTo(200);
            for (Http.SseStream s : busy) assertThat(s.rest().getLast()).isEqualTo("[DONE]");
        } finally {
            busy.forEach(Http.SseStream::close);
            engine.tokenDelay = Duration.ZERO;
        }
        assertThat(new Http(server.httpPort()).get("/health/live").status()).isEqualTo(200);
    }

    @Test
    void idleConnectionIsClosedAfterTheKeepAliveTimeout() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
            long t0 = System.nanoTime();
            assertThat(closedByServer(s, Duration.ofSeconds(10))).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isBetween(Duration.ofMillis(1500), Duration.ofSeconds(6));
        }
    }

    @Test
    void slowHeadersAreCutOffByTheHeaderReadTimeout() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.httpPort())) {
            s.setSoTimeout(200);
            OutputStream out = s.getOutputStream();
            byte[] request = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
            long t0 = System.nanoTime();
            boolean closed = false;
            // one byte every 100 ms: never idle, never done; the header-read timeout (1 s) must end it
            for (int i = 0; i < request.length && !closed; i++) {
                try {
                    out.write(request[i]);
                    out.flush();
                    closed = s.getInputStream().read() == -1;
                } catch (SocketTimeoutException stillOpen) {
                    // no answer yet
                } catch (IOException reset) {
                    closed = true;
                }
            }
            assertThat(closed).as("connection still open after sending the whole request slowly").isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(4));
        }
    }

    @Test
    void anUpgradedHttp2ConnectionIsNotTakenForSlowHeaders() throws Exception {
        // java.net.http upgrades http:// to h2c; HTTP/2's own frames (SETTINGS, PING, WINDOW_UPDATE) arrive
        // between requests and were read as headers that never completed: the header-read timeout cut them.
        // The upgrade itself is a GET: Pekko, like Jetty, Tomcat and Helidon, mishandles an h2c upgrade of a request with a body
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        HttpResponse<String> up = client.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + server.httpPort() + "/health")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(up.statusCode()).isEqualTo(200);
        URI uri = URI.create("http://127.0.0.1:" + server.httpPort() + "/v1/completions");
        for (int i = 0; i < 6; i++) {
            Thread.sleep(400);   // 2.4 s in all: past the header-read timeout (1 s), each gap within keep-alive (2 s)
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Once\", \"max_tokens\": 2}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_2);
        }
        client.close();
    }

    @Test
    void aRequestInFlightOutlastsTheKeepAliveTimeout() {
        engine.tokenDelay = Duration.ofMillis(250);
        try {
            // ~3.5 s without a byte on the connection (non-streamed): longer than keep-alive (2 s) and header-read (1 s)
            Http.Reply r = new Http(server.httpPort()).post("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 14));
            assertThat(r.status()).as(r.body()).isEqualTo(200);
        } finally {
            engine.tokenDelay = Duration.ZERO;
        }
    }

    @Test
    void aSilentGrpcStreamOutlastsTheKeepAliveTimeoutOnBothPorts() throws Exception {
        engine.tokenDelay = Duration.ofSeconds(3);   // the second token 3 s after the first: longer than keep-alive (2 s)
        ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "edge-grpc-client");
        try {
            for (int port : List.of(server.grpcPort(), server.httpPort())) {
                GenerationServiceClient client = GenerationServiceClient.create(
                        GrpcClientSettings.connectToServiceAt("127.0.0.1", port, clientSystem).withTls(false), clientSystem);
                try {
                    List<GenerateResponse> rs = client.generate().invoke(GenerateRequest.newBuilder().setText("Once upon a time").setMaxTokens(2).build())
                            .runWith(Sink.seq(), clientSystem).toCompletableFuture().get(30, TimeUnit.SECONDS);
                    assertThat(rs.getLast().hasFinished()).as("port " + port).isTrue();
                } finally {
                    client.close();
                }
            }
        } finally {
            engine.tokenDelay = Duration.ZERO;
            clientSystem.terminate();
        }
    }

    /** True when the server closes (or resets) the connection within the time. */
    private static boolean closedByServer(Socket s, Duration within) throws IOException {
        s.setSoTimeout((int) within.toMillis());
        InputStream in = s.getInputStream();
        try {
            return in.read() == -1;
        } catch (SocketTimeoutException open) {
            return false;
        } catch (IOException reset) {
            return true;
        }
    }
}
