package dev.quantflow.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.proto.v1.Chat;
import dev.quantflow.proto.v1.ChatMessage;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServiceClient;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.grpc.GrpcClientSettings;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** gRPC Generate's parameters at their edges, and prompts too long: INVALID_ARGUMENT naming the field, or a defined meaning. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GrpcValidationTest {
    private ScriptedEngine engine;
    private QuantflowServer server;
    private ActorSystem<Void> clientSystem;
    private GenerationServiceClient client;

    @BeforeAll
    void start() {
        engine = new ScriptedEngine();
        server = engine.startServer(Map.of());
        clientSystem = ActorSystem.create(Behaviors.empty(), "grpc-validation-client");
        client = GenerationServiceClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort(), clientSystem).withTls(false), clientSystem);
    }

    @AfterAll
    void stop() {
        client.close();
        clientSystem.terminate();
        server.close();
    }

    /** OK, or the status of the failure. */
    private Status call(GenerateRequest r) throws Exception {
        try {
            List<GenerateResponse> rs = client.generate().invoke(r).runWith(Sink.seq(), clientSystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
            assertThat(rs.getLast().hasFinished()).isTrue();
            return Status.OK;
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(StatusRuntimeException.class);
            return ((StatusRuntimeException) e.getCause()).getStatus();
        }
    }

    static Stream<Arguments> edges() {
        return Stream.of(
                edge("temperature", b -> b.setTemperature(0f), null), edge("temperature", b -> b.setTemperature(Float.MIN_VALUE), null),
                edge("temperature", b -> b.setTemperature(2f), null), edge("temperature", b -> b.setTemperature(Math.nextUp(2f)), "temperature"),
                edge("temperature", b -> b.setTemperature(Float.NaN), "temperature"), edge("temperature", b -> b.setTemperature(Float.POSITIVE_INFINITY), "temperature"),
                edge("temperature", b -> b.setTemperature(-Float.MIN_VALUE), "temperature"),
                edge("top_p", b -> b.setTopP(Float.MIN_VALUE), null), edge("top_p", b -> b.setTopP(1f), null), edge("top_p", b -> b.setTopP(0f), "top_p"),
                edge("top_p", b -> b.setTopP(-0f), "top_p"), edge("top_p", b -> b.setTopP(Float.NaN), "top_p"), edge("top_p", b -> b.setTopP(Math.nextUp(1f)), "top_p"),
                edge("top_p", b -> b.setTopP(Float.NEGATIVE_INFINITY), "top_p"),
                edge("top_k", b -> b.setTopK(-1), null), edge("top_k", b -> b.setTopK(Integer.MAX_VALUE), null), edge("top_k", b -> b.setTopK(-2), "top_k"),
                edge("top_k", b -> b.setTopK(Integer.MIN_VALUE), "top_k"),
                edge("max_tokens", b -> b.setMaxTokens(Integer.MAX_VALUE), null), edge("max_tokens", b -> b.setMaxTokens(0), "max_tokens"),
                edge("max_tokens", b -> b.setMaxTokens(Integer.MIN_VALUE), "max_tokens"),
                edge("min_p", b -> b.setMinP(1f), null), edge("min_p", b -> b.setMinP(Math.nextUp(1f)), "min_p"), edge("min_p", b -> b.setMinP(-0.1f), "min_p"),
                edge("min_p", b -> b.setMinP(Float.NaN), "min_p"),
                edge("seed", b -> b.setSeed(Long.MIN_VALUE), null),
                edge("top_logprobs", b -> b.setTopLogprobs(20), null), edge("top_logprobs", b -> b.setTopLogprobs(21), "top_logprobs"),
                edge("top_logprobs", b -> b.setTopLogprobs(-1), "top_logprobs"),
                edge("stop", b -> b.addStop(""), "stop"), edge("stop", b -> { for (int i = 0; i < 17; i++) b.addStop("s" + i); return b; }, "stop"));
    }

    private static Arguments edge(String field, UnaryOperator<GenerateRequest.Builder> set, String refusedParam) {
        return Arguments.of(field, set, refusedParam);
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("edges")
    void parameterEdges(String field, UnaryOperator<GenerateRequest.Builder> set, String refusedParam) throws Exception {
        Status s = call(set.apply(GenerateRequest.newBuilder().setText("Hi").setMaxTokens(2)).build());
        if (refusedParam == null) {
            assertThat(s.getCode()).as(s.toString()).isEqualTo(Status.Code.OK);
        } else {
            assertThat(s.getCode()).as(s.toString()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(s.getDescription()).startsWith(refusedParam + ": ");
        }
    }

    @Test
    void promptsLongerThanTheContextNameTheirField() throws Exception {
        String longText = "Once upon a time ".repeat(300);
        Status text = call(GenerateRequest.newBuilder().setText(longText).build());
        assertThat(text.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(text.getDescription()).startsWith("text: ").contains("context");
        Status chat = call(GenerateRequest.newBuilder().setChat(Chat.newBuilder().addMessages(ChatMessage.newBuilder().setRole("user").setContent(longText))).build());
        assertThat(chat.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(chat.getDescription()).startsWith("chat: ").contains("context");
    }

    @Test
    void minPReachesTheEngine() throws Exception {
        assertThat(call(GenerateRequest.newBuilder().setText("Hi").setMaxTokens(2).setMinP(0.25f).build()).getCode()).isEqualTo(Status.Code.OK);
        assertThat(engine.last().options().sampling().minP()).isEqualTo(0.25f);
    }

    @Test
    void theMessagesAreTheHttpOnes() throws Exception {
        Status s = call(GenerateRequest.newBuilder().setText("Hi").setTemperature(9).build());
        assertThat(s.getDescription()).isEqualTo("temperature: temperature must be between 0 and 2, got 9.0");
    }
}
