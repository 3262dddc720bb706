package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.proto.v1.Chat;
import dev.quantflow.proto.v1.ChatMessage;
import dev.quantflow.proto.v1.ChatToolCall;
import dev.quantflow.proto.v1.FinishReason;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServiceClient;
import dev.quantflow.proto.v1.Tool;
import dev.quantflow.proto.v1.ToolCallDelta;
import dev.quantflow.proto.v1.ToolChoice;
import dev.quantflow.proto.v1.ToolChoiceMode;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

/**
 * Tool calls through the real server with the official openai SDK, on stories260K given a chat
 * template that renders tools (their names): a named or required tool_choice forces valid calls
 * (whole, streamed as tool-call deltas, and through the SDK's streaming helper), finish_reason
 * "tool_calls"; auto leaves this model's text as content; a tool_choice naming no tool is a 400.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ToolCallsSdkTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String WEATHER = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},"
            + "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"city\",\"unit\"]}";
    private static final String ADD = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\"]}";
    private static final String TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\",\"parameters\":" + WEATHER + "}},"
            + "{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":" + ADD + "}}]";
    static final String TEMPLATE = "{%- if tools %}{{- '<tools>' }}{%- for tool in tools %}{{- ' ' + tool.function.name }}{%- endfor %}{{- ' </tools>\n' }}{%- endif %}"
            + "{%- for message in messages %}{%- if message.tool_calls %}{{- '<|im_start|>assistant\n' + message.content }}{%- for call in message.tool_calls %}"
            + "{{- '<tool_call>{\"name\": \"' + call.function.name + '\", \"arguments\": ' }}{{- call.function.arguments | tojson }}{{- '}</tool_call>' }}{%- endfor %}"
            + "{{- '<|im_end|>\n' }}{%- elif message.role == 'tool' %}{{- '<|im_start|>tool ' + message.tool_call_id + '\n' + message.content + '<|im_end|>\n' }}"
            + "{%- else %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}{%- endif %}{%- endfor %}"
            + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}";
    private static final SchemaRegistry SCHEMAS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    private Path modelDir;
    private QuantflowServer server;

    @BeforeAll
    void start() throws Exception {
        // stories260K with a ChatML template that renders the tools' names (the whole Qwen2.5 template, which
        // ToolCallingTest renders, makes a prompt longer than this model's 512-token context)
        modelDir = Files.createTempDirectory("stories260K-tools");
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"))
            if (Files.exists(Reference.MODEL.resolve(f))) Files.createSymbolicLink(modelDir.resolve(f), Reference.MODEL.resolve(f).toAbsolutePath());
        ObjectNode config = (ObjectNode) JSON.readTree(Reference.MODEL.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", TEMPLATE);
        Files.writeString(modelDir.resolve("tokenizer_config.json"), config.toString());
        server = TestServers.start(PipelineEngine.start(EngineConfig.builder(modelDir).maxSequences(8).build()), Map.of());
    }

    @AfterAll
    void stop() throws Exception {
        if (server != null) server.close();
        try (var files = Files.list(modelDir)) {
            for (Path f : files.toList()) Files.delete(f);
        }
        Files.delete(modelDir);
    }

    @Test
    void theOpenAiSdkGetsToolCalls() throws Exception {
        Path dir = StructuredOutputSdkTest.installSdk();
        Files.copy(ToolCallsSdkTest.class.getResourceAsStream("/sdk/tools.mjs"), dir.resolve("tools.mjs"));
        String modelId = modelDir.getFileName().toString();
        Process p = new ProcessBuilder("node", "tools.mjs", "http://127.0.0.1:" + server.httpPort() + "/v1", TOOLS, modelId)
                .directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        StructuredOutputSdkTest.deleteTree(dir);
        assertThat(p.exitValue()).as(output).isZero();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : output.split("\n")) if (l.startsWith("{")) lines.add(JSON.readTree(l));
        assertThat(lines).as(output).hasSize(13);
        for (JsonNode l : lines) {
            switch (l.get("case").asText()) {
                case "named", "named-stream" -> {
                    assertThat(l.get("finish").asText()).as(l.toString()).isEqualTo("tool_calls");
                    assertThat(l.get("calls")).hasSize(1);
                    checkCall(l.get("calls").get(0), l);
                    assertThat(l.get("calls").get(0).get("function").get("name").asText()).isEqualTo("get_weather");
                    if (l.has("content")) assertThat(l.get("content").isNull()).isTrue();
                    if (l.has("chunks")) assertThat(l.get("chunks").asInt()).as("arguments streamed in pieces").isGreaterThan(2);
                }
                case "required", "required-helper" -> {
                    assertThat(l.get("finish").asText()).as(l.toString()).isEqualTo("tool_calls");
                    assertThat(l.get("calls").size()).isBetween(1, 4);
                    for (JsonNode c : l.get("calls")) checkCall(c, l);
                    if (l.has("done")) assertThat(l.get("done").size()).as("the helper's arguments.done events").isEqualTo(l.get("calls").size());
                }
                case "auto" -> {
                    assertThat(l.get("calls").isNull()).as(l.toString()).isTrue();
                    assertThat(l.get("content").asText()).isNotEmpty();
                    assertThat(l.get("finish").asText()).isIn("stop", "length");
                    assertThat(l.get("promptTokens").asInt()).as("the template rendered the tools").isGreaterThan(l.get("promptTokensWithoutTools").asInt() + 3);
                }
                case "auto-stream", "auto-helper" -> {
                    // the text before the call streamed as content, the call as its name and argument pieces
                    assertThat(l.get("finish").asText()).as(l.toString()).isEqualTo("tool_calls");
                    assertThat(l.get("content").asText()).as(l.toString()).isEqualTo("Let me check. ");
                    assertThat(l.get("calls")).hasSize(1);
                    checkCall(l.get("calls").get(0), l);
                    assertThat(l.get("calls").get(0).get("function").get("name").asText()).isEqualTo("add");
                    if (l.has("argumentChunks")) {
                        assertThat(l.get("argumentChunks").asInt()).as("arguments streamed in pieces").isGreaterThan(2);
                        assertThat(l.get("firstContentBeforeCall").asBoolean()).as("content was not held back until the end").isTrue();
                    }
                    if (l.has("done")) {
                        assertThat(l.get("done")).hasSize(1);
                        assertThat(l.get("contentDeltas").asInt()).isGreaterThan(0);
                    }
                }
                case "auto-single", "required-single" -> {
                    assertThat(l.get("finish").asText()).as(l.toString()).isEqualTo("tool_calls");
                    assertThat(l.get("calls")).as("parallel_tool_calls false: one call").hasSize(1);
                    checkCall(l.get("calls").get(0), l);
                    if (l.has("parallelCalls")) assertThat(l.get("parallelCalls").asInt()).as("the same output with parallel calls").isEqualTo(2);
                }
                case "agent-loop" -> {
                    // the second turn was prompted with the whole history: the call (arguments as a mapping, as
                    // Hugging Face templates get them) and the tool's result under the call's id
                    assertThat(l.get("firstFinish").asText()).as(l.toString()).isEqualTo("tool_calls");
                    JsonNode call = l.get("call");
                    checkCall(call, l);
                    assertThat(l.get("finish").asText()).as(l.toString()).isIn("stop", "length");
                    assertThat(l.get("answer").asText()).isNotEmpty();
                    assertThat(l.get("calls").isNull()).isTrue();
                    JsonNode t = new Http(server.httpPort()).post("/tokenize", Map.of("messages", l.get("history"), "tools", JSON.readTree(TOOLS))).json();
                    assertThat(l.get("promptTokens").asInt()).as(t.toString()).isEqualTo(t.get("count").asInt());
                    String rendered = new Http(server.httpPort()).post("/detokenize", Map.of("tokens", t.get("tokens"))).json().get("prompt").asText();
                    JsonNode args = JSON.readTree(call.get("function").get("arguments").asText());
                    // Python's json.dumps as the template's tojson writes it: ", " and ": " between the model's keys in its order
                    List<String> pairs = new ArrayList<>();
                    for (var e : args.properties()) pairs.add(JSON.writeValueAsString(e.getKey()) + ": " + JSON.writeValueAsString(e.getValue()));
                    String argsAsTojson = "{" + String.join(", ", pairs) + "}";
                    assertThat(rendered).contains("<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>{\"name\": \"get_weather\", "
                            + "\"arguments\": " + argsAsTojson + "}</tool_call><|im_end|>\n<|im_start|>tool " + call.get("id").asText() + "\n"
                            + l.get("history").get(2).get("content").asText() + "<|im_end|>\n<|im_start|>assistant\n");
                }
                case "refused" -> {
                    assertThat(l.get("status").asInt()).as(l.toString()).isEqualTo(400);
                    assertThat(l.get("param").asText()).isEqualTo("tool_choice");
                    assertThat(l.get("message").asText()).contains("'nope'");
                }
                default -> throw new AssertionError("unknown case " + l);
            }
        }
    }

    /** vLLM's /tokenize of chat messages: the ids a chat completion is prompted with, through the model's template. */
    @Test
    void tokenizeRendersMessagesWithTheChatTemplate() throws Exception {
        Http http = new Http(server.httpPort());
        List<Map<String, Object>> messages = List.of(Map.of("role", "user", "content", "What is the weather in Paris?"));
        JsonNode tools = JSON.readTree(TOOLS);
        Http.Reply chat = http.post("/v1/chat/completions", Map.of("messages", messages, "tools", tools, "tool_choice", "none", "max_tokens", 1));
        assertThat(chat.status()).as(chat.body()).isEqualTo(200);
        JsonNode t = http.post("/tokenize", Map.of("messages", messages, "tools", tools, "return_token_strs", true)).json();
        assertThat(t.get("count").asInt()).as(t.toString()).isEqualTo(chat.json().get("usage").get("prompt_tokens").asInt());
        assertThat(t.get("max_model_len").asInt()).isEqualTo(512);
        assertThat(t.get("tokens")).hasSize(t.get("count").asInt());
        assertThat(t.get("token_strs")).hasSize(t.get("count").asInt());
        StringBuilder rendered = new StringBuilder();
        for (JsonNode id : t.get("tokens")) rendered.append(id.asInt()).append(',');
        String detok = http.post("/detokenize", Map.of("tokens", t.get("tokens"))).json().get("prompt").asText();
        assertThat(detok).as(rendered.toString()).contains("<tools> get_weather add </tools>").contains("<|im_start|>user\nWhat is the weather in Paris?<|im_end|>")
                .endsWith("<|im_start|>assistant\n");

        // without the generation prompt, and with the tokenizer's BOS added on top of the template's text
        JsonNode bare = http.post("/tokenize", Map.of("messages", messages, "add_generation_prompt", false)).json();
        JsonNode withBos = http.post("/tokenize", Map.of("messages", messages, "add_generation_prompt", false, "add_special_tokens", true)).json();
        assertThat(withBos.get("count").asInt()).isEqualTo(bare.get("count").asInt() + 1);
        assertThat(withBos.get("tokens").get(0).asInt()).isEqualTo(1);   // stories260K's BOS
        assertThat(http.post("/detokenize", Map.of("tokens", bare.get("tokens"))).json().get("prompt").asText()).endsWith("<|im_end|>\n");

        // continue_final_message: the prompt ends inside the last (assistant) message, for chat completions too
        List<Map<String, Object>> prefilled = List.of(messages.get(0), Map.of("role", "assistant", "content", "The weather in"));
        JsonNode open = http.post("/tokenize", Map.of("messages", prefilled, "continue_final_message", true)).json();
        assertThat(http.post("/detokenize", Map.of("tokens", open.get("tokens"))).json().get("prompt").asText())
                .endsWith("<|im_start|>assistant\nThe weather in");
        Http.Reply continued = http.post("/v1/chat/completions", Map.of("messages", prefilled, "continue_final_message", true, "add_generation_prompt", false,
                "max_tokens", 1));
        assertThat(continued.status()).as(continued.body()).isEqualTo(200);
        assertThat(continued.json().get("usage").get("prompt_tokens").asInt()).isEqualTo(open.get("count").asInt());

        Http.Reply both = http.post("/tokenize", Map.of("messages", prefilled, "continue_final_message", true, "add_generation_prompt", true));
        assertThat(both.status()).isEqualTo(400);
        assertThat(both.json().get("error").get("param").asText()).isEqualTo("continue_final_message");
        Http.Reply template = http.post("/tokenize", Map.of("messages", messages, "chat_template", "{{ messages }}"));
        assertThat(template.status()).isEqualTo(400);
        assertThat(template.json().get("error").get("param").asText()).isEqualTo("chat_template");
        Http.Reply neither = http.post("/tokenize", Map.of("messages", List.of()));
        assertThat(neither.status()).isEqualTo(400);
        assertThat(neither.json().get("error").get("param").asText()).isEqualTo("messages");
    }

    /** gRPC: the same tools through the same engine path; calls stream as ToolCallDelta messages, Finished TOOL_CALLS. */
    @Test
    void grpcCarriesToolsAndStreamsCalls() throws Exception {
        ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "tools-grpc-client");
        GenerationServiceClient grpc = GenerationServiceClient.create(
                GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort(), clientSystem).withTls(false), clientSystem);
        try {
            Chat chat = Chat.newBuilder().addMessages(ChatMessage.newBuilder().setRole("user").setContent("What is the weather in Paris?")).build();
            List<Tool> tools = List.of(Tool.newBuilder().setName("get_weather").setDescription("Weather in a city").setParameters(WEATHER).build(),
                    Tool.newBuilder().setName("add").setParameters(ADD).build());
            GenerateRequest base = GenerateRequest.newBuilder().setChat(chat).addAllTools(tools).setTemperature(1).setMaxTokens(300).build();

            GrpcAnswer named = grpcAnswer(grpc, clientSystem, base.toBuilder().setSeed(1).setToolChoice(ToolChoice.newBuilder().setFunction("get_weather")).build());
            assertThat(named.finish).isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
            assertThat(named.names).containsExactly("get_weather");
            assertThat(named.pieces).as("arguments streamed in pieces").isGreaterThan(2);
            assertThat(SCHEMAS.getSchema(WEATHER).validate(JSON.readTree(named.arguments.getFirst().toString()))).isEmpty();

            // auto, the output forced to be text and then a Hermes call: the text is content, the call read out of it
            GrpcAnswer auto = grpcAnswer(grpc, clientSystem, base.toBuilder().setSeed(2)
                    .setRegex("Let me check\\. <tool_call>\\{\"name\": \"add\", \"arguments\": \\{\"a\": [1-9][0-9]?, \"b\": [1-9][0-9]?\\}\\}</tool_call>").build());
            assertThat(auto.finish).isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
            assertThat(auto.content.toString()).isEqualTo("Let me check. ");
            assertThat(auto.names).containsExactly("add");
            assertThat(SCHEMAS.getSchema(ADD).validate(JSON.readTree(auto.arguments.getFirst().toString()))).isEmpty();
            assertThat(auto.tokens).as("every generated token still travels on a Delta").isEqualTo(auto.completionTokens);

            GrpcAnswer single = grpcAnswer(grpc, clientSystem, base.toBuilder().setSeed(3).setParallelToolCalls(false)
                    .setToolChoice(ToolChoice.newBuilder().setMode(ToolChoiceMode.TOOL_CHOICE_MODE_REQUIRED)).build());
            assertThat(single.finish).isEqualTo(FinishReason.FINISH_REASON_TOOL_CALLS);
            assertThat(single.names).hasSize(1);

            GrpcAnswer none = grpcAnswer(grpc, clientSystem, base.toBuilder().setSeed(4).setMaxTokens(8)
                    .setToolChoice(ToolChoice.newBuilder().setMode(ToolChoiceMode.TOOL_CHOICE_MODE_NONE)).build());
            assertThat(none.names).isEmpty();
            assertThat(none.finish).isIn(FinishReason.FINISH_REASON_STOP, FinishReason.FINISH_REASON_LENGTH);

            // continue_final_message over gRPC: the prompt the HTTP /tokenize gives for the same messages
            Chat prefilled = chat.toBuilder().addMessages(ChatMessage.newBuilder().setRole("assistant").setContent("The weather in")).setContinueFinalMessage(true).build();
            GrpcAnswer continued = grpcAnswer(grpc, clientSystem, GenerateRequest.newBuilder().setChat(prefilled).setMaxTokens(1).build());
            int tokenized = new Http(server.httpPort()).post("/tokenize", Map.of("messages", List.of(Map.of("role", "user", "content", "What is the weather in Paris?"),
                    Map.of("role", "assistant", "content", "The weather in")), "continue_final_message", true)).json().get("count").asInt();
            assertThat(continued.promptTokens).isEqualTo(tokenized);

            // an agent loop's second turn over gRPC: the call and the tool's answer render as over HTTP
            String arguments = named.arguments.getFirst().toString();
            Chat history = chat.toBuilder().addMessages(ChatMessage.newBuilder().setRole("assistant")
                            .addToolCalls(ChatToolCall.newBuilder().setId("call_1").setName("get_weather").setArguments(arguments)))
                    .addMessages(ChatMessage.newBuilder().setRole("tool").setToolCallId("call_1").setName("get_weather").setContent("21")).build();
            GrpcAnswer answered = grpcAnswer(grpc, clientSystem, GenerateRequest.newBuilder().setChat(history).addAllTools(tools).setMaxTokens(2).build());
            Map<String, Object> assistant = new LinkedHashMap<>();
            assistant.put("role", "assistant");
            assistant.put("content", null);
            assistant.put("tool_calls", List.of(Map.of("id", "call_1", "type", "function", "function", Map.of("name", "get_weather", "arguments", arguments))));
            JsonNode httpTokens = new Http(server.httpPort()).post("/tokenize", Map.of("messages", List.of(Map.of("role", "user", "content", "What is the weather in Paris?"),
                    assistant, Map.of("role", "tool", "tool_call_id", "call_1", "content", "21")), "tools", JSON.readTree(TOOLS))).json();
            assertThat(answered.promptTokens).as(httpTokens.toString()).isEqualTo(httpTokens.get("count").asInt());
            assertThat(new Http(server.httpPort()).post("/detokenize", Map.of("tokens", httpTokens.get("tokens"))).json().get("prompt").asText())
                    .contains("<tool_call>{\"name\": \"get_weather\", \"arguments\": {").contains("<|im_start|>tool call_1\n21<|im_end|>\n<|im_start|>assistant\n");

            Map<GenerateRequest, String> refused = new LinkedHashMap<>();
            refused.put(GenerateRequest.newBuilder().setChat(Chat.newBuilder().addMessages(ChatMessage.newBuilder().setRole("tool").setContent("21"))).build(),
                    "chat.messages[0].tool_call_id");
            refused.put(GenerateRequest.newBuilder().setChat(history.toBuilder().setMessages(1, ChatMessage.newBuilder().setRole("assistant")
                    .addToolCalls(ChatToolCall.newBuilder().setId("call_1").setName("get_weather").setArguments("{\"city\": ")))).build(),
                    "chat.messages[1].tool_calls[0].function.arguments");
            refused.put(GenerateRequest.newBuilder().setChat(Chat.newBuilder().addMessages(ChatMessage.newBuilder().setRole("robot").setContent("x"))).build(),
                    "chat.messages[0].role");
            refused.put(GenerateRequest.newBuilder().setChat(prefilled.toBuilder().setAddGenerationPrompt(true)).build(), "chat");
            refused.put(GenerateRequest.newBuilder().setText("Hi").addAllTools(tools).build(), "tools");
            refused.put(base.toBuilder().setToolChoice(ToolChoice.newBuilder().setFunction("nope")).build(), "tool_choice");
            refused.put(base.toBuilder().setN(2).build(), "n");
            refused.put(base.toBuilder().setToolChoice(ToolChoice.newBuilder().setFunction("add")).setJsonObject(true).build(), "tool_choice");
            refused.put(base.toBuilder().addTools(Tool.newBuilder().setName("add")).build(), "tools");
            refused.put(GenerateRequest.newBuilder().setChat(chat).setToolChoice(ToolChoice.newBuilder().setMode(ToolChoiceMode.TOOL_CHOICE_MODE_REQUIRED)).build(),
                    "tool_choice");
            for (Map.Entry<GenerateRequest, String> e : refused.entrySet()) {
                try {
                    grpc.generate(e.getKey()).runWith(Sink.seq(), clientSystem).toCompletableFuture().get(30, TimeUnit.SECONDS);
                    throw new AssertionError("accepted " + e.getKey());
                } catch (ExecutionException ex) {
                    Status st = ((StatusRuntimeException) ex.getCause()).getStatus();
                    assertThat(st.getCode()).as(st.toString()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(st.getDescription()).startsWith(e.getValue() + ": ");
                }
            }
        } finally {
            grpc.close();
            clientSystem.terminate();
        }
    }

    /** A Generate stream folded: content, calls (names, arguments, argument pieces), tokens, finish. */
    private static final class GrpcAnswer {
        final StringBuilder content = new StringBuilder();
        final List<String> names = new ArrayList<>();
        final List<StringBuilder> arguments = new ArrayList<>();
        int pieces, tokens, completionTokens, promptTokens;
        FinishReason finish;
    }

    private static GrpcAnswer grpcAnswer(GenerationServiceClient grpc, ActorSystem<Void> system, GenerateRequest r) throws Exception {
        GrpcAnswer a = new GrpcAnswer();
        for (GenerateResponse m : grpc.generate(r).runWith(Sink.seq(), system).toCompletableFuture().get(120, TimeUnit.SECONDS)) {
            if (m.hasDelta()) {
                a.content.append(m.getDelta().getText());
                a.tokens += m.getDelta().getTokenIdsCount();
            }
            if (m.hasToolCall()) {
                ToolCallDelta d = m.getToolCall();
                if (!d.getId().isEmpty()) {
                    assertThat(d.getId()).startsWith("call_");
                    assertThat(d.getIndex()).isEqualTo(a.names.size());
                    a.names.add(d.getName());
                    a.arguments.add(new StringBuilder());
                } else {
                    a.pieces++;
                }
                a.arguments.get(d.getIndex()).append(d.getArguments());
            }
            if (m.hasFinished()) {
                a.finish = m.getFinished().getFinishReason();
                a.completionTokens = m.getFinished().getUsage().getCompletionTokens();
                a.promptTokens = m.getFinished().getUsage().getPromptTokens();
            }
        }
        return a;
    }

    private static void checkCall(JsonNode call, JsonNode line) throws Exception {
        assertThat(call.get("id").asText()).startsWith("call_");
        assertThat(call.get("type").asText()).isEqualTo("function");
        String name = call.get("function").get("name").asText();
        assertThat(name).isIn("get_weather", "add");
        Schema schema = SCHEMAS.getSchema(name.equals("add") ? ADD : WEATHER);
        JsonNode args = JSON.readTree(call.get("function").get("arguments").asText());
        assertThat(schema.validate(args)).as(line.toString()).isEmpty();
    }
}
