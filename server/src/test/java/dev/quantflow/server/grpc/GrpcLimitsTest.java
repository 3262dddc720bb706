package dev.quantflow.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.TokenizeRequest;
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
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.LoggerFactory;

/** gRPC requests the generated client would never send: unreadable and oversized messages, cancelled calls; and prompts refused by their size. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GrpcLimitsTest {
    private static final int LIMIT = 64 * 1024;
    private ScriptedEngine engine;
    private QuantflowServer server;
    private ManagedChannel channel;

    @BeforeAll
    void start() {
        engine = new ScriptedEngine();
        server = engine.startServer(Map.of("grpc-max-message-size", LIMIT));
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().maxInboundMessageSize(64 << 20).build();
    }

    @AfterAll
    void stop() throws Exception {
        channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        server.close();
    }

    private double count(String method, String code) {
        Counter c = server.metrics().registry().find("quantflow.grpc.requests").tags("method", method, "code", code).counter();
        return c == null ? 0 : c.count();
    }

    private static MethodDescriptor<byte[], byte[]> method(String name, MethodDescriptor.MethodType type) {
        return MethodDescriptor.<byte[], byte[]>newBuilder().setType(type).setFullMethodName("quantflow.v1.GenerationService/" + name)
                .setRequestMarshaller(RAW).setResponseMarshaller(RAW).build();
    }

    /** One request message as raw bytes; the call's final status. */
    private Status call(String name, byte[] message) throws Exception {
        return call(name, message, false);
    }

    private Status call(String name, byte[] message, boolean gzip) throws Exception {
        CompletableFuture<Status> result = new CompletableFuture<>();
        ClientCall<byte[], byte[]> call = channel.newCall(method(name, MethodDescriptor.MethodType.SERVER_STREAMING),
                gzip ? CallOptions.DEFAULT.withCompression("gzip") : CallOptions.DEFAULT);
        call.start(new ClientCall.Listener<>() {
            @Override
            public void onClose(Status status, Metadata trailers) {
                result.complete(status);
            }
        }, new Metadata());
        call.request(Integer.MAX_VALUE);
        call.setMessageCompression(gzip);
        call.sendMessage(message);
        call.halfClose();
        return result.get(30, TimeUnit.SECONDS);
    }

    @Test
    void anUnreadableMessageIsInvalidArgumentCountedAndOneLogLineWithoutStackTrace() throws Exception {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        root.addAppender(logged);
        try {
            double tokenize = count("Tokenize", "INVALID_ARGUMENT");
            double generate = count("Generate", "INVALID_ARGUMENT");
            byte[] badUtf8 = {(byte) 0xC3, 0x28};
            // TokenizeRequest.text (field 1) and GenerateRequest.text (field 3): strings must be UTF-8
            assertThat(call("Tokenize", concat(new byte[] {0x0A, 0x02}, badUtf8)).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(call("Generate", concat(new byte[] {0x1A, 0x02}, badUtf8)).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(call("Generate", new byte[] {0x1A, 0x7F, 0x41}).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);  // truncated
            assertThat(count("Tokenize", "INVALID_ARGUMENT")).isEqualTo(tokenize + 1);
            assertThat(count("Generate", "INVALID_ARGUMENT")).isEqualTo(generate + 2);
            Thread.sleep(300);  // Pekko's log events are asynchronous
            assertThat(logged.list).allSatisfy(e -> assertThat(e.getThrowableProxy()).as(e.getFormattedMessage()).isNull());
            assertThat(logged.list.size()).isLessThanOrEqualTo(3);
        } finally {
            root.detachAppender(logged);
        }
    }

    @Test
    void aCancelledGenerateIsCountedCancelled() throws Exception {
        engine.tokenDelay = Duration.ofMillis(100);
        try {
            double cancelled = count("Generate", "CANCELLED");
            double ok = count("Generate", "OK");
            CompletableFuture<byte[]> first = new CompletableFuture<>();
            ClientCall<byte[], byte[]> call = channel.newCall(method("Generate", MethodDescriptor.MethodType.SERVER_STREAMING), CallOptions.DEFAULT);
            call.start(new ClientCall.Listener<>() {
                @Override
                public void onMessage(byte[] message) {
                    first.complete(message);
                }
            }, new Metadata());
            call.request(1);
            call.sendMessage(GenerateRequest.newBuilder().setRequestId("grpc-cancel-count").setText("x").setMaxTokens(100).build().toByteArray());
            call.halfClose();
            first.get(30, TimeUnit.SECONDS);
            call.cancel("client gave up", null);
            long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (count("Generate", "CANCELLED") == cancelled && System.nanoTime() < end) Thread.sleep(20);
            assertThat(count("Generate", "CANCELLED")).isEqualTo(cancelled + 1);
            assertThat(count("Generate", "OK")).isEqualTo(ok);
            assertThat(engine.cancelled).contains("grpc-cancel-count");
        } finally {
            engine.tokenDelay = Duration.ZERO;
        }
    }

    @Test
    void messagesAreCappedBothWays() throws Exception {
        double before = count("Tokenize", "RESOURCE_EXHAUSTED");
        byte[] big = TokenizeRequest.newBuilder().setText("a".repeat(LIMIT + 1)).build().toByteArray();
        assertThat(call("Tokenize", big).getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        // under the request limit, but its tokens (byte-fallback ids with their "<0xE2>" strings) would make a far larger reply
        byte[] wide = TokenizeRequest.newBuilder().setText("\u20ac".repeat(LIMIT / 4)).build().toByteArray();
        assertThat(wide.length).isLessThan(LIMIT);
        assertThat(call("Tokenize", wide).getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(count("Tokenize", "RESOURCE_EXHAUSTED")).isEqualTo(before + 2);
        assertThat(call("Tokenize", TokenizeRequest.newBuilder().setText("Once upon a time").build().toByteArray()).getCode()).isEqualTo(Status.Code.OK);
    }

    @Test
    void aCompressedMessageIsCappedByItsInflatedSize() throws Exception {
        double before = count("ListModels", "RESOURCE_EXHAUSTED");
        // a ListModelsRequest with a 16 MiB unknown field of zeros (parsers skip unknown fields): some KiB gzipped
        byte[] bomb = new byte[5 + (16 << 20)];
        bomb[0] = 0x7A;  // field 15, length-delimited
        int n = 16 << 20;
        for (int i = 1; i <= 4; i++, n >>>= 7) bomb[i] = (byte) ((n & 0x7F) | (i < 4 ? 0x80 : 0));
        assertThat(call("ListModels", bomb, true).getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(count("ListModels", "RESOURCE_EXHAUSTED")).isEqualTo(before + 1);
        assertThat(call("Tokenize", TokenizeRequest.newBuilder().setText("Once upon a time").build().toByteArray(), true).getCode())
                .as("compressed requests still work").isEqualTo(Status.Code.OK);
    }

    @Test
    void aPromptThatCannotFitIsRefusedByItsBytesBeforeTheEngineTokenizesIt() throws Exception {
        int requests = engine.requests.size();
        String huge = "Once upon a time ".repeat(2000);  // 34,000 bytes: far more than 512 tokens of any vocabulary entry's length
        assertThat(call("Generate", GenerateRequest.newBuilder().setText(huge).build().toByteArray()).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        Http.Reply r = new Http(server.httpPort()).post("/v1/completions", Map.of("prompt", huge, "max_tokens", 1));
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.json().at("/error/code").asText()).isEqualTo("context_length_exceeded");
        Http.Reply chat = new Http(server.httpPort()).post("/v1/chat/completions",
                Map.of("messages", List.of(Map.of("role", "user", "content", huge)), "max_tokens", 1));
        assertThat(chat.status()).isEqualTo(400);
        assertThat(chat.json().at("/error/param").asText()).isEqualTo("messages");
        assertThat(engine.requests).hasSize(requests);
        // a prompt that fits still reaches the engine
        assertThat(new Http(server.httpPort()).post("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 1)).status()).isEqualTo(200);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
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
