package dev.quantflow.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.actors.api.Prompt;
import dev.quantflow.proto.health.v1.HealthCheckRequest;
import dev.quantflow.proto.health.v1.HealthCheckResponse;
import dev.quantflow.proto.health.v1.HealthClient;
import dev.quantflow.proto.v1.AbortRequest;
import dev.quantflow.proto.v1.Chat;
import dev.quantflow.proto.v1.ChatMessage;
import dev.quantflow.proto.v1.FinishReason;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServiceClient;
import dev.quantflow.proto.v1.ListModelsRequest;
import dev.quantflow.proto.v1.TokenIds;
import dev.quantflow.proto.v1.TokenizeRequest;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.grpc.GrpcClientSettings;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The gRPC service through the generated Pekko gRPC client: streaming, validation, status codes, auth, cancel/abort, health, reflection. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GrpcServiceTest {
    private static final String KEY = "grpc-secret";
    private ScriptedEngine engine;
    private QuantflowServer server;
    private ActorSystem<Void> clientSystem;
    private GenerationServiceClient client;
    private HealthClient health;

    @BeforeAll
    void start() {
        engine = new ScriptedEngine();
        server = engine.startServer(Map.of("api-keys", KEY));
        clientSystem = ActorSystem.create(Behaviors.empty(), "grpc-test-client");
        GrpcClientSettings settings = GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort(), clientSystem).withTls(false);
        client = GenerationServiceClient.create(settings, clientSystem);
        health = HealthClient.create(settings, clientSystem);
    }

    @AfterAll
    void stop() {
        client.close();
        health.close();
        clientSystem.terminate();
        server.close();
    }

    private <T> T await(CompletionStage<T> f) throws Exception {
        return f.toCompletableFuture().get(60, TimeUnit.SECONDS);
    }

    private List<GenerateResponse> generate(GenerateRequest r) throws Exception {
        return await(client.generate().addHeader("authorization", "Bearer " + KEY).invoke(r).runWith(Sink.seq(), clientSystem));
    }

    private static Status.Code code(Throwable t) {
        while (t instanceof ExecutionException || t instanceof CompletionException) t = t.getCause();
        assertThat(t).isInstanceOf(StatusRuntimeException.class);
        return ((StatusRuntimeException) t).getStatus().getCode();
    }

    private Status.Code failure(GenerateRequest r) {
        try {
            generate(r);
        } catch (Exception e) {
            return code(e);
        }
        throw new AssertionError("no error");
    }

    @Test
    void generateStreamsDeltasThenOneFinishedWithUsage() throws Exception {
        List<GenerateResponse> rs = generate(GenerateRequest.newBuilder().setText("Once upon a time").setMaxTokens(6).setTemperature(0).build());
        assertThat(rs.getLast().hasFinished()).isTrue();
        assertThat(rs.subList(0, rs.size() - 1)).allSatisfy(r -> assertThat(r.hasDelta()).isTrue());
        StringBuilder text = new StringBuilder();
        int tokens = 0;
        for (GenerateResponse r : rs) {
            assertThat(r.getRequestId()).isEqualTo(rs.getFirst().getRequestId()).startsWith("grpc-");
            if (r.hasDelta()) {
                text.append(r.getDelta().getText());
                tokens += r.getDelta().getTokenIdsCount();
            }
        }
        assertThat(text.toString()).isEqualTo(engine.scriptText(6));
        assertThat(tokens).isEqualTo(6);
        var fin = rs.getLast().getFinished();
        assertThat(fin.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_LENGTH);
        int prompt = engine.tokenizer().encode("Once upon a time").length;
        assertThat(fin.getUsage().getPromptTokens()).isEqualTo(prompt);
        assertThat(fin.getUsage().getCompletionTokens()).isEqualTo(6);
        assertThat(fin.getUsage().getTotalTokens()).isEqualTo(prompt + 6);
    }

    @Test
    void parametersAndPromptKindsReachTheEngine() throws Exception {
        generate(GenerateRequest.newBuilder().setRequestId("my-id-1").setModel("stories260K").setTokenIds(TokenIds.newBuilder().addIds(1).addIds(403))
                .setMaxTokens(3).setTemperature(0.7f).setTopP(0.5f).setTopK(3).setSeed(99).addStop("x").setIgnoreEos(true).setTopLogprobs(2).build());
        var req = engine.last();
        assertThat(req.requestId()).isEqualTo("my-id-1");
        assertThat(req.options().sampling().temperature()).isEqualTo(0.7f);
        assertThat(req.options().sampling().topK()).isEqualTo(3);
        assertThat(req.options().sampling().seed()).isEqualTo(99L);
        assertThat(req.options().stop()).containsExactly("x");
        assertThat(req.options().ignoreEos()).isTrue();
        assertThat(req.topLogprobs()).isEqualTo(2);
        List<GenerateResponse> chat = generate(GenerateRequest.newBuilder()
                .setChat(Chat.newBuilder().addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hi"))).setMaxTokens(2).build());
        assertThat(chat.getLast().getFinished().getUsage().getCompletionTokens()).isEqualTo(2);
        assertThat(engine.last().prompt()).isInstanceOf(Prompt.Chat.class);
        assertThat(engine.last().options().sampling().temperature()).isEqualTo(1f);
    }

    @Test
    void invalidRequestsAreInvalidArgument() {
        assertThat(failure(GenerateRequest.newBuilder().setText("x").setMaxTokens(-1).build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setText("x").setTemperature(5).build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setText("x").setTopP(0).build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setText("x").setTopLogprobs(50).build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setMaxTokens(3).build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setTokenIds(TokenIds.newBuilder().addIds(99999)).build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setText("Once upon a time ".repeat(300)).build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setText("x").setRequestId("has space").build())).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(failure(GenerateRequest.newBuilder().setText("x").setModel("gpt-4").build())).isEqualTo(Status.Code.NOT_FOUND);
    }

    @Test
    void overloadedIsResourceExhaustedAndDegradedUnavailable() {
        engine.overloaded = true;
        try {
            assertThat(failure(GenerateRequest.newBuilder().setText("x").build())).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        } finally {
            engine.overloaded = false;
        }
        engine.degraded = true;
        try {
            assertThat(failure(GenerateRequest.newBuilder().setText("x").build())).isEqualTo(Status.Code.UNAVAILABLE);
        } finally {
            engine.degraded = false;
        }
    }

    @Test
    void keysAreRequiredExceptForHealth() throws Exception {
        var noKey = client.generate().invoke(GenerateRequest.newBuilder().setText("x").build()).runWith(Sink.seq(), clientSystem);
        assertThatThrownBy(() -> await(noKey)).satisfies(t -> assertThat(code(t)).isEqualTo(Status.Code.UNAUTHENTICATED));
        var wrong = client.listModels().addHeader("authorization", "Bearer nope").invoke(ListModelsRequest.getDefaultInstance());
        assertThatThrownBy(() -> await(wrong)).satisfies(t -> assertThat(code(t)).isEqualTo(Status.Code.UNAUTHENTICATED));
        assertThat(await(health.check(HealthCheckRequest.getDefaultInstance())).getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }

    @Test
    void listModelsAndTokenize() throws Exception {
        var models = await(client.listModels().addHeader("authorization", "Bearer " + KEY).invoke(ListModelsRequest.getDefaultInstance()));
        assertThat(models.getModels(0).getId()).isEqualTo("stories260K");
        assertThat(models.getModels(0).getContextLength()).isEqualTo(ScriptedEngine.CONTEXT);
        var t = await(client.tokenize().addHeader("authorization", "Bearer " + KEY).invoke(TokenizeRequest.newBuilder().setText("Once upon").build()));
        int[] ids = engine.tokenizer().encode("Once upon");
        assertThat(t.getTokenIdsList()).containsExactly(Arrays.stream(ids).boxed().toArray(Integer[]::new));
        assertThat(t.getTokensCount()).isEqualTo(ids.length);
        var noSpecial = await(client.tokenize().addHeader("authorization", "Bearer " + KEY)
                .invoke(TokenizeRequest.newBuilder().setText("Once upon").setAddSpecialTokens(false).build()));
        assertThat(noSpecial.getTokenIdsCount()).isEqualTo(engine.tokenizer().encode("Once upon", false).length);
    }

    @Test
    void clientCancellationCancelsTheSequence() throws Exception {
        engine.tokenDelay = Duration.ofMillis(100);
        try {
            var first = await(client.generate().addHeader("authorization", "Bearer " + KEY)
                    .invoke(GenerateRequest.newBuilder().setRequestId("cancel-me").setText("x").setMaxTokens(100).build())
                    .take(1).runWith(Sink.head(), clientSystem));
            assertThat(first.getRequestId()).isEqualTo("cancel-me");
            long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!engine.cancelled.contains("cancel-me") && System.nanoTime() < end) Thread.sleep(20);
            assertThat(engine.cancelled).contains("cancel-me");
        } finally {
            engine.tokenDelay = Duration.ZERO;
        }
    }

    @Test
    void abortEndsAnotherCallsStream() throws Exception {
        engine.tokenDelay = Duration.ofMillis(100);
        try {
            var all = client.generate().addHeader("authorization", "Bearer " + KEY)
                    .invoke(GenerateRequest.newBuilder().setRequestId("abort-me").setText("x").setMaxTokens(100).build())
                    .runWith(Sink.seq(), clientSystem);
            long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!engine.active.containsKey("abort-me") && System.nanoTime() < end) Thread.sleep(20);
            var aborted = await(client.abort().addHeader("authorization", "Bearer " + KEY).invoke(AbortRequest.newBuilder().setRequestId("abort-me").build()));
            assertThat(aborted.getAborted()).isTrue();
            List<GenerateResponse> rs = await(all);
            assertThat(rs.getLast().getFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_ABORT);
            assertThat(rs.size()).isLessThan(50);
            var again = await(client.abort().addHeader("authorization", "Bearer " + KEY).invoke(AbortRequest.newBuilder().setRequestId("abort-me").build()));
            assertThat(again.getAborted()).isFalse();
        } finally {
            engine.tokenDelay = Duration.ZERO;
        }
    }

    @Test
    void healthCheckAndWatch() throws Exception {
        assertThat(await(health.check(HealthCheckRequest.newBuilder().setService("quantflow.v1.GenerationService").build())).getStatus())
                .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        assertThatThrownBy(() -> await(health.check(HealthCheckRequest.newBuilder().setService("nope").build())))
                .satisfies(t -> assertThat(code(t)).isEqualTo(Status.Code.NOT_FOUND));
        var first = await(health.watch(HealthCheckRequest.getDefaultInstance()).take(1).runWith(Sink.head(), clientSystem));
        assertThat(first.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }

    @Test
    void grpcIsAlsoServedOnTheHttpPort() throws Exception {
        assertThat(server.grpcPort()).isNotEqualTo(server.httpPort());
        GrpcClientSettings s = GrpcClientSettings.connectToServiceAt("127.0.0.1", server.httpPort(), clientSystem).withTls(false);
        GenerationServiceClient onHttpPort = GenerationServiceClient.create(s, clientSystem);
        try {
            var models = await(onHttpPort.listModels().addHeader("authorization", "Bearer " + KEY).invoke(ListModelsRequest.getDefaultInstance()));
            assertThat(models.getModelsCount()).isEqualTo(1);
        } finally {
            onHttpPort.close();
        }
        assertThat(new Http(server.httpPort()).get("/health/live").status()).isEqualTo(200);
    }

    @Test
    void serverReflectionListsTheServices() throws Exception {
        io.grpc.ManagedChannel ch = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        try {
            io.grpc.MethodDescriptor<byte[], byte[]> m = io.grpc.MethodDescriptor.<byte[], byte[]>newBuilder()
                    .setType(io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
                    .setFullMethodName("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
                    .setRequestMarshaller(RAW).setResponseMarshaller(RAW).build();
            var result = new CompletableFuture<byte[]>();
            io.grpc.ClientCall<byte[], byte[]> call = ch.newCall(m, io.grpc.CallOptions.DEFAULT);
            call.start(new io.grpc.ClientCall.Listener<>() {
                @Override
                public void onMessage(byte[] message) {
                    result.complete(message);
                }

                @Override
                public void onClose(Status status, io.grpc.Metadata trailers) {
                    result.completeExceptionally(status.asRuntimeException());
                }
            }, new io.grpc.Metadata());
            call.request(1);
            call.sendMessage(new byte[] {0x3A, 0x00});  // ServerReflectionRequest { list_services: "" }
            call.halfClose();
            String reply = new String(result.get(30, TimeUnit.SECONDS), StandardCharsets.UTF_8);
            assertThat(reply).contains("quantflow.v1.GenerationService", "grpc.health.v1.Health");
        } finally {
            ch.shutdownNow();
        }
    }

    private static final io.grpc.MethodDescriptor.Marshaller<byte[]> RAW = new io.grpc.MethodDescriptor.Marshaller<>() {
        public InputStream stream(byte[] value) { return new ByteArrayInputStream(value); }
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };
}
