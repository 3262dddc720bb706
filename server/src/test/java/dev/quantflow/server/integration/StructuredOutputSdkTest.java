package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.SpecificationVersion;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.proto.v1.Choices;
import dev.quantflow.proto.v1.FinishReason;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServiceClient;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
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
 * Structured output through the real server on the real engine (stories260K), with the official
 * openai npm SDK (installed into a temporary folder, as a user would) and over gRPC: every
 * output is valid for its schema by an independent validator, streamed or not; the extensions
 * guided_regex / guided_choice hold; max_tokens cuts with finish_reason length; an unsupported
 * keyword is a 400 naming response_format.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StructuredOutputSdkTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String SCHEMA = """
            {"type":"object","properties":{"name":{"type":"string","maxLength":10},"legs":{"type":"integer"},
             "color":{"enum":["black","white","orange"]},"friends":{"type":"array","items":{"type":"string","maxLength":6},"maxItems":3},
             "born":{"type":"string","format":"date"}},"required":["name","legs","color"],"additionalProperties":false}""";
    private static final Schema VALIDATOR = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12,
            b -> b.schemaRegistryConfig(SchemaRegistryConfig.builder().formatAssertionsEnabled(true).build())).getSchema(SCHEMA);

    private QuantflowServer server;
    private ActorSystem<Void> clientSystem;
    private GenerationServiceClient grpc;

    @BeforeAll
    void start() {
        server = TestServers.start(PipelineEngine.start(EngineConfig.builder(Reference.MODEL).maxSequences(8).build()), Map.of());
        clientSystem = ActorSystem.create(Behaviors.empty(), "structured-client");
        grpc = GenerationServiceClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort(), clientSystem).withTls(false), clientSystem);
    }

    @AfterAll
    void stop() {
        grpc.close();
        clientSystem.terminate();
        server.close();
    }

    @Test
    void theOpenAiSdkGetsValidStructuredOutput() throws Exception {
        Path dir = installSdk();
        Files.copy(StructuredOutputSdkTest.class.getResourceAsStream("/sdk/structured.mjs"), dir.resolve("structured.mjs"));
        Process p = new ProcessBuilder("node", "structured.mjs", "http://127.0.0.1:" + server.httpPort() + "/v1", SCHEMA)
                .directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        deleteTree(dir);
        assertThat(p.exitValue()).as(output).isZero();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : output.split("\n")) if (l.startsWith("{")) lines.add(JSON.readTree(l));
        int validated = 0;
        for (JsonNode l : lines) {
            String c = l.get("case").asText();
            switch (c) {
                case "chat", "chat-stream", "chat-stream-helper" -> {
                    assertThat(l.get("finish").asText()).as(l.toString()).isEqualTo("stop");
                    assertThat(VALIDATOR.validate(JSON.readTree(l.get("text").asText()))).as(l.toString()).isEmpty();
                    validated++;
                }
                case "regex" -> assertThat(l.get("text").asText()).matches("[0-9]{3}-[0-9]{4}");
                case "choice-stream" -> assertThat(l.get("text").asText()).isIn("happy", "sad");
                case "cut" -> {
                    assertThat(l.get("finish").asText()).isEqualTo("length");
                    assertThat(l.get("text").asText()).startsWith("{");
                }
                case "refused" -> {
                    assertThat(l.get("status").asInt()).as(l.toString()).isEqualTo(400);
                    assertThat(l.get("param").asText()).isEqualTo("response_format");
                    assertThat(l.get("message").asText()).contains("'minimum'");
                }
                default -> throw new AssertionError("unknown case " + l);
            }
        }
        assertThat(validated).isEqualTo(8);
        assertThat(lines).hasSize(12);
    }

    /** The mask is per sequence: a constrained greedy request gives the reference loop's output while unconstrained ones run beside it. */
    @Test
    void aConstrainedRequestIsBatchInvariant() throws Exception {
        String regex = "[a-z ]{1,40}\\.";
        String expected;
        try (Reference ref = new Reference()) {
            expected = ref.constrained("Once upon a time", 60, dev.quantflow.engine.structured.OutputConstraint.regex("guided_regex", regex)).text();
        }
        dev.quantflow.server.Http http = new dev.quantflow.server.Http(server.httpPort());
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            List<java.util.concurrent.Future<String>> others = new ArrayList<>();
            for (String p : List.of("The little dog", "One day", "Mom said"))
                others.add(pool.submit(() -> http.post("/v1/completions", Map.of("prompt", p, "max_tokens", 60, "temperature", 1, "seed", 3))
                        .json().get("choices").get(0).get("text").asText()));
            java.util.concurrent.Future<String> constrained = pool.submit(() -> http.post("/v1/completions",
                    Map.of("prompt", "Once upon a time", "max_tokens", 60, "temperature", 0, "guided_regex", regex)).json().get("choices").get(0).get("text").asText());
            assertThat(constrained.get(60, TimeUnit.SECONDS)).isEqualTo(expected).matches(regex);
            for (var o : others) assertThat(o.get(60, TimeUnit.SECONDS)).isNotEmpty();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void grpcCarriesTheConstraints() throws Exception {
        for (int i = 0; i < 3; i++) {
            String text = generate(GenerateRequest.newBuilder().setText("Once upon a time").setTemperature(1f).setSeed(i).setMaxTokens(400).setJsonSchema(SCHEMA).build());
            assertThat(VALIDATOR.validate(JSON.readTree(text))).as(text).isEmpty();
        }
        assertThat(generate(GenerateRequest.newBuilder().setText("Yes or no?").setSeed(1).setMaxTokens(20)
                .setChoice(Choices.newBuilder().addChoices("yes").addChoices("no")).build())).isIn("yes", "no");
        assertThat(generate(GenerateRequest.newBuilder().setText("Code:").setSeed(1).setMaxTokens(20).setRegex("[A-Z]{2}[0-9]{2}").build())).matches("[A-Z]{2}[0-9]{2}");
        try {
            generate(GenerateRequest.newBuilder().setText("x").setRegex("(a)\\1").build());
            throw new AssertionError("a backreference was accepted");
        } catch (CompletionException e) {
            assertThat(e.getCause()).isInstanceOf(StatusRuntimeException.class);
            assertThat(((StatusRuntimeException) e.getCause()).getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getCause().getMessage()).contains("backreferences");
        }
    }

    private String generate(GenerateRequest r) {
        List<GenerateResponse> rs = grpc.generate(r).runWith(Sink.seq(), clientSystem).toCompletableFuture().join();
        StringBuilder sb = new StringBuilder();
        for (GenerateResponse g : rs) if (g.hasDelta()) sb.append(g.getDelta().getText());
        assertThat(rs.getLast().getFinished().getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
        return sb.toString();
    }

    /** npm install openai into a temporary folder (npm's cache makes repeats fast); skipped where node/npm are absent. */
    static Path installSdk() throws IOException, InterruptedException {
        assumeTrue(onPath("node") && onPath("npm"), "node and npm are needed for the SDK test");
        Path dir = Files.createTempDirectory("openai-sdk");
        Files.writeString(dir.resolve("package.json"), "{\"name\":\"sdk-test\",\"private\":true,\"type\":\"module\"}");
        Process p = new ProcessBuilder("npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "openai@5")
                .directory(dir.toFile()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("npm install openai: " + log).isZero();
        return dir;
    }

    static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path f : paths.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) if (Files.isExecutable(Path.of(d, tool))) return true;
        return false;
    }
}
