package dev.quantflow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.Counter;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/** How responses end when something other than the generation ends them: a failure, the client leaving, the drain deadline. */
class StreamEndingsTest {

    private static double aborts(QuantflowServer server) {
        Counter c = server.metrics().registry().find("quantflow.request.success").tag("finished_reason", "abort").counter();
        return c == null ? 0 : c.count();
    }

    private static boolean within(Duration d, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            if (condition.getAsBoolean()) return true;
            Thread.sleep(10);
        }
        return condition.getAsBoolean();
    }

    /** Sends a completion request on a raw connection and leaves it open; the caller closes it. */
    private static Socket send(QuantflowServer server, String json) throws Exception {
        Socket s = new Socket("127.0.0.1", server.httpPort());
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
        return s;
    }

    @Test
    void aFailedStreamEndsWithExactlyOneErrorEventThenDone() {
        ScriptedEngine engine = new ScriptedEngine();
        engine.failMidStream = true;
        try (QuantflowServer server = engine.startServer(Map.of())) {
            Http http = new Http(server.httpPort());
            for (String path : List.of("/v1/completions", "/v1/chat/completions")) {
                Map<String, Object> body = path.contains("chat")
                        ? Map.of("messages", List.of(Map.of("role", "user", "content", "Hi")), "max_tokens", 10, "stream", true)
                        : Map.of("prompt", "Once upon a time", "max_tokens", 10, "stream", true);
                try (Http.SseStream s = http.stream(path, body)) {
                    assertThat(s.status()).isEqualTo(200);
                    List<String> data = s.rest();
                    assertThat(data.getLast()).as(path).isEqualTo("[DONE]");
                    List<String> errors = data.stream().filter(d -> !d.equals("[DONE]") && Http.json(d).has("error")).toList();
                    assertThat(errors).as(path + ": " + data).hasSize(1);
                    assertThat(data.get(data.size() - 2)).isEqualTo(errors.getFirst());
                    assertThat(Http.json(errors.getFirst()).at("/error/type").asText()).isEqualTo("server_error");
                }
            }
        }
    }

    @Test
    void aNonStreamedRequestWhoseClientLeftIsCancelledAndCountedAsAnAbort() throws Exception {
        ScriptedEngine engine = new ScriptedEngine();
        engine.tokenDelay = Duration.ofMillis(200);  // the script's ~20 tokens take 4 s
        try (QuantflowServer server = engine.startServer(Map.of())) {
            double aborts = aborts(server);
            Set<String> before = new HashSet<>(engine.active.keySet());
            String id;
            try (Socket s = send(server, "{\"prompt\": \"Once upon a time\", \"max_tokens\": 100}")) {
                assertThat(within(Duration.ofSeconds(10), () -> engine.active.keySet().stream().anyMatch(k -> !before.contains(k)))).isTrue();
                id = engine.active.keySet().stream().filter(k -> !before.contains(k)).findFirst().orElseThrow();
                Thread.sleep(300);
            }
            assertThat(within(Duration.ofMillis(1500), () -> engine.cancelled.contains(id))).as("cancelled soon after the client left").isTrue();
            assertThat(within(Duration.ofSeconds(2), () -> aborts(server) == aborts + 1)).as("counted as an abort").isTrue();
            assertThat(server.metrics().scrape()).contains("quantflow_http_requests_total{endpoint=\"/v1/completions\",model_name=\"stories260K\",status=\"499\"}");
        }
    }

    @Test
    void aStreamWhoseClientLeftBeforeTheHeadersIsCancelledAndCountedAsAnAbort() throws Exception {
        ScriptedEngine engine = new ScriptedEngine();
        engine.acceptDelay = Duration.ofMillis(500);  // the client is gone before the engine accepted the request
        engine.tokenDelay = Duration.ofMillis(100);
        try (QuantflowServer server = engine.startServer(Map.of())) {
            for (boolean reset : new boolean[] {false, true}) {
                double aborts = aborts(server);
                int n = engine.requests.size();
                try (Socket s = send(server, "{\"prompt\": \"Once upon a time\", \"max_tokens\": 100, \"stream\": true}")) {
                    assertThat(within(Duration.ofSeconds(10), () -> engine.requests.size() > n)).isTrue();
                    if (reset) s.setSoLinger(true, 0);  // close with a TCP reset, as a killed client's kernel does
                }
                String id = engine.requests.getLast().requestId();
                // accepted after 0.5 s, then cancelled at once (not after Pekko's 5 s substream timeout)
                assertThat(within(Duration.ofMillis(2000), () -> engine.cancelled.contains(id))).as("reset " + reset + ": cancelled soon after the client left").isTrue();
                assertThat(within(Duration.ofSeconds(2), () -> aborts(server) == aborts + 1)).as("reset " + reset + ": counted as an abort").isTrue();
            }
        }
    }

    @Test
    void atTheDrainDeadlineOpenStreamsGetAnErrorEventAndACleanEndAndGrpcUnavailable() throws Exception {
        ScriptedEngine engine = new ScriptedEngine();
        engine.tokenDelay = Duration.ofMillis(300);  // ~6 s per generation, against a 1 s drain timeout
        QuantflowServer server = engine.startServer(Map.of("drain-timeout", "1s"));
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            CompletableFuture<Status> grpc = new CompletableFuture<>();
            CompletableFuture<Void> grpcFirst = new CompletableFuture<>();
            ClientCall<byte[], byte[]> call = channel.newCall(MethodDescriptor.<byte[], byte[]>newBuilder()
                    .setType(MethodDescriptor.MethodType.SERVER_STREAMING).setFullMethodName("quantflow.v1.GenerationService/Generate")
                    .setRequestMarshaller(RAW).setResponseMarshaller(RAW).build(), CallOptions.DEFAULT);
            call.start(new ClientCall.Listener<>() {
                @Override
                public void onMessage(byte[] message) {
                    grpcFirst.complete(null);
                }

                @Override
                public void onClose(Status status, Metadata trailers) {
                    grpc.complete(status);
                }
            }, new Metadata());
            call.request(Integer.MAX_VALUE);
            call.sendMessage(GenerateRequest.newBuilder().setText("Once upon a time").setMaxTokens(100).build().toByteArray());
            call.halfClose();
            grpcFirst.get(30, TimeUnit.SECONDS);
            CompletableFuture<Status> watch = new CompletableFuture<>();
            ClientCall<byte[], byte[]> watchCall = channel.newCall(MethodDescriptor.<byte[], byte[]>newBuilder()
                    .setType(MethodDescriptor.MethodType.SERVER_STREAMING).setFullMethodName("grpc.health.v1.Health/Watch")
                    .setRequestMarshaller(RAW).setResponseMarshaller(RAW).build(), CallOptions.DEFAULT);
            watchCall.start(new ClientCall.Listener<>() {
                @Override
                public void onClose(Status status, Metadata trailers) {
                    watch.complete(status);
                }
            }, new Metadata());
            watchCall.request(Integer.MAX_VALUE);
            watchCall.sendMessage(new byte[0]);
            watchCall.halfClose();
            try (Http.SseStream s = new Http(server.httpPort()).stream("/v1/completions",
                    Map.of("prompt", "Once upon a time", "max_tokens", 100, "stream", true))) {
                assertThat(s.status()).isEqualTo(200);
                assertThat(s.next()).isPresent();
                server.drain();
                List<String> rest = s.rest();  // a connection reset instead of the chunked terminator throws here
                assertThat(rest.getLast()).isEqualTo("[DONE]");
                List<JsonNode> errors = rest.stream().filter(d -> !d.equals("[DONE]")).map(Http::json).filter(j -> j.has("error")).toList();
                assertThat(errors).hasSize(1);
                assertThat(errors.getFirst().at("/error/code").asText()).isEqualTo("draining");
                assertThat(rest.get(rest.size() - 2)).contains("\"error\"");
            }
            Status st = grpc.get(30, TimeUnit.SECONDS);
            assertThat(st.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(st.getDescription()).contains("shutting down");
            Status w = watch.get(30, TimeUnit.SECONDS);
            assertThat(w.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(w.getDescription()).as("the health watch ends with a status, not a reset").contains("shutting down");
            server.terminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertThat(server.metrics().registry().find("quantflow.request.success").tag("finished_reason", "error").counter()).isNull();
            assertThat(aborts(server)).as("cut by the drain: aborts").isEqualTo(2);
        } finally {
            channel.shutdownNow();
            server.close();
        }
    }

    private static final MethodDescriptor.Marshaller<byte[]> RAW = new MethodDescriptor.Marshaller<>() {
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };
}
