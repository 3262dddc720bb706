package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.tokenizer.Tokenizer;
import dev.quantflow.proto.v1.FinishReason;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServiceClient;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.grpc.GrpcClientSettings;
import org.apache.pekko.stream.javadsl.Sink;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The real server on the real engine (stories260K), through real clients: greedy output over
 * HTTP (whole and streamed), chat, and gRPC equals the reference generate loop; usage counts;
 * concurrent streams; stop strings; logprobs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RealEngineServingTest {
    private static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Lily and Ben went to the park", "One day",
            "Tom had a red ball", "The sun was", "There was a big tree", "Mom said");

    private Reference reference;
    private QuantflowServer server;
    private Http http;
    private ActorSystem<Void> clientSystem;
    private GenerationServiceClient grpc;

    @BeforeAll
    void start() {
        reference = new Reference();
        PipelineEngine engine = PipelineEngine.start(EngineConfig.builder(Reference.MODEL).maxSequences(16).build());
        server = TestServers.start(engine, Map.of());
        http = new Http(server.httpPort());
        clientSystem = ActorSystem.create(Behaviors.empty(), "real-engine-client");
        grpc = GenerationServiceClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort(), clientSystem).withTls(false), clientSystem);
    }

    @AfterAll
    void stop() {
        grpc.close();
        clientSystem.terminate();
        server.close();
        reference.close();
    }

    private static Map<String, Object> greedy(String prompt, int maxTokens, Object... extra) {
        Map<String, Object> m = new HashMap<>(Map.of("model", "stories260K", "prompt", prompt, "max_tokens", maxTokens, "temperature", 0));
        for (int i = 0; i < extra.length; i += 2) m.put((String) extra[i], extra[i + 1]);
        return m;
    }

    @Test
    void greedyCompletionEqualsGenerate() {
        for (String p : PROMPTS.subList(0, 3)) {
            GenerateResult ref = reference.greedy(p, 60);
            JsonNode j = http.post("/v1/completions", greedy(p, 60)).json();
            JsonNode choice = j.get("choices").get(0);
            assertThat(choice.get("text").asText()).as(p).isEqualTo(ref.text());
            assertThat(choice.get("finish_reason").asText()).isEqualTo(ref.finishReason());
            assertThat(j.get("usage").get("prompt_tokens").asInt()).isEqualTo(ref.promptTokens());
            assertThat(j.get("usage").get("completion_tokens").asInt()).isEqualTo(ref.tokens().length);
            assertThat(j.get("usage").get("total_tokens").asInt()).isEqualTo(ref.promptTokens() + ref.tokens().length);
        }
    }

    @Test
    void minPOfOneKeepsOnlyTheMostLikelyToken() {
        // min_p 1 drops every token less likely than the best: temperature 2 then samples greedily
        String greedyText = http.post("/v1/completions", greedy("The little dog", 40, "ignore_eos", true)).json().get("choices").get(0).get("text").asText();
        String minP = http.post("/v1/completions", greedy("The little dog", 40, "ignore_eos", true, "temperature", 2, "seed", 5, "min_p", 1))
                .json().get("choices").get(0).get("text").asText();
        String hot = http.post("/v1/completions", greedy("The little dog", 40, "ignore_eos", true, "temperature", 2, "seed", 5))
                .json().get("choices").get(0).get("text").asText();
        assertThat(minP).isEqualTo(greedyText);
        assertThat(hot).as("without min_p temperature 2 samples another text").isNotEqualTo(greedyText);
    }

    @Test
    void greedyRunsToEosAndReportsStop() {
        GenerateResult ref = reference.greedy("Once upon a time", 400);
        JsonNode j = http.post("/v1/completions", greedy("Once upon a time", 400)).json();
        assertThat(j.get("choices").get(0).get("text").asText()).isEqualTo(ref.text());
        assertThat(j.get("choices").get(0).get("finish_reason").asText()).isEqualTo(ref.finishReason());
        assertThat(j.get("usage").get("completion_tokens").asInt()).isEqualTo(ref.tokens().length);
    }

    @Test
    void streamedCompletionEqualsGenerateWithUsage() {
        GenerateResult ref = reference.greedy("The little dog", 80);
        try (Http.SseStream s = http.stream("/v1/completions", greedy("The little dog", 80, "stream", true, "stream_options", Map.of("include_usage", true)))) {
            List<String> data = s.rest();
            assertThat(data.getLast()).isEqualTo("[DONE]");
            StringBuilder text = new StringBuilder();
            String finish = null;
            JsonNode usage = null;
            for (String d : data.subList(0, data.size() - 1)) {
                JsonNode c = Http.json(d);
                if (c.get("choices").isEmpty()) usage = c.get("usage");
                else {
                    text.append(c.get("choices").get(0).get("text").asText());
                    if (!c.get("choices").get(0).get("finish_reason").isNull()) finish = c.get("choices").get(0).get("finish_reason").asText();
                }
            }
            assertThat(text.toString()).isEqualTo(ref.text());
            assertThat(finish).isEqualTo(ref.finishReason());
            assertThat(usage.get("completion_tokens").asInt()).isEqualTo(ref.tokens().length);
            assertThat(usage.get("prompt_tokens").asInt()).isEqualTo(ref.promptTokens());
        }
    }

    @Test
    void tokenIdPromptsEqualGenerate() {
        int[] ids = {1, 403, 407, 261, 378};
        GenerateResult ref = reference.greedyIds(ids, 30);
        JsonNode j = http.post("/v1/completions", greedy("x", 30, "prompt", ids)).json();
        assertThat(j.get("choices").get(0).get("text").asText()).isEqualTo(ref.text());
        assertThat(j.get("usage").get("prompt_tokens").asInt()).isEqualTo(ids.length);
    }

    @Test
    void chatUsesThePlainTemplateOfAModelWithoutOne() {
        GenerateResult ref = reference.greedy("user: Tell me a story.\nassistant:", 40);
        String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story.\"}], \"max_tokens\": 40, \"temperature\": 0}";
        JsonNode j = http.post("/v1/chat/completions", body).json();
        assertThat(j.get("choices").get(0).get("message").get("content").asText()).isEqualTo(ref.text());
        assertThat(j.get("usage").get("prompt_tokens").asInt()).isEqualTo(ref.promptTokens());
    }

    @Test
    void stopStringsEndTheTextBeforeThem() {
        GenerateResult ref = reference.greedy("Once upon a time", 100, List.of("."));
        JsonNode j = http.post("/v1/completions", greedy("Once upon a time", 100, "stop", ".")).json();
        assertThat(j.get("choices").get(0).get("text").asText()).isEqualTo(ref.text()).doesNotContain(".");
        assertThat(j.get("choices").get(0).get("finish_reason").asText()).isEqualTo("stop");
    }

    @Test
    void grpcGreedyEqualsGenerate() throws Exception {
        GenerateResult ref = reference.greedy("Tom had a red ball", 50);
        List<GenerateResponse> rs = grpc.generate(GenerateRequest.newBuilder().setText("Tom had a red ball").setMaxTokens(50).setTemperature(0).build())
                .runWith(Sink.seq(), clientSystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        StringBuilder text = new StringBuilder();
        List<Integer> ids = new ArrayList<>();
        for (GenerateResponse r : rs) {
            if (r.hasDelta()) {
                text.append(r.getDelta().getText());
                ids.addAll(r.getDelta().getTokenIdsList());
            }
        }
        assertThat(text.toString()).isEqualTo(ref.text());
        assertThat(ids).containsExactly(Arrays.stream(ref.tokens()).boxed().toArray(Integer[]::new));
        var fin = rs.getLast().getFinished();
        assertThat(fin.getFinishReason()).isEqualTo(ref.finishReason().equals("stop") ? FinishReason.FINISH_REASON_STOP : FinishReason.FINISH_REASON_LENGTH);
        assertThat(fin.getUsage().getCompletionTokens()).isEqualTo(ref.tokens().length);
        assertThat(fin.getUsage().getPromptTokens()).isEqualTo(ref.promptTokens());
    }

    @Test
    void concurrentStreamsEachEqualTheirSingleRequestText() throws Exception {
        Map<String, GenerateResult> refs = new HashMap<>();
        for (String p : PROMPTS) refs.put(p, reference.greedy(p, 64));
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<String[]>> results = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                String p = PROMPTS.get(i % PROMPTS.size());
                results.add(pool.submit(() -> {
                    try (Http.SseStream s = http.stream("/v1/completions", greedy(p, 64, "stream", true))) {
                        StringBuilder text = new StringBuilder();
                        for (String d : s.rest()) if (!d.equals("[DONE]")) text.append(Http.json(d).get("choices").get(0).get("text").asText());
                        return new String[] {p, text.toString()};
                    }
                }));
            }
            for (Future<String[]> f : results) {
                String[] r = f.get(120, TimeUnit.SECONDS);
                assertThat(r[1]).as(r[0]).isEqualTo(refs.get(r[0]).text());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void logprobsDescribeTheGreedyTokens() {
        JsonNode lp = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Hi")), "max_tokens", 8,
                "temperature", 0, "logprobs", true, "top_logprobs", 3)).json().get("choices").get(0).get("logprobs").get("content");
        assertThat(lp).hasSize(8);
        for (JsonNode t : lp) {
            assertThat(t.get("logprob").asDouble()).isLessThanOrEqualTo(0);
            assertThat(t.get("top_logprobs")).hasSize(3);
            assertThat(t.get("top_logprobs").get(0).get("logprob").asDouble()).isEqualTo(t.get("logprob").asDouble(), Offset.offset(1e-5));
        }
    }

    /** The completion continues the prompt's text: decode(prompt + completion) minus decode(prompt), its first word's space included. */
    @Test
    void completionTextAndLogprobTokensContinueThePrompt() {
        Tokenizer tok = Tokenizer.fromModelDir(Reference.MODEL);
        for (String p : List.of("Once upon a", "The little dog")) {
            GenerateResult ref = reference.greedy(p, 12);
            int[] prompt = tok.encode(p);
            int[] all = IntStream.concat(Arrays.stream(prompt), Arrays.stream(ref.tokens())).toArray();
            String expected = tok.decode(all).substring(tok.decode(prompt).length());
            assertThat(expected).startsWith(" ");
            JsonNode choice = http.post("/v1/completions", greedy(p, 12, "logprobs", 2)).json().get("choices").get(0);
            String text = choice.get("text").asText();
            assertThat(text).as(p).isEqualTo(expected);
            JsonNode lp = choice.get("logprobs");
            StringBuilder joined = new StringBuilder();
            for (int i = 0; i < lp.get("tokens").size(); i++) {
                String token = lp.get("tokens").get(i).asText();
                assertThat(lp.get("text_offset").get(i).asInt()).as("text_offset %d", i).isEqualTo(joined.length());
                assertThat(text.substring(joined.length())).startsWith(token);
                assertThat(lp.get("top_logprobs").get(i).has(token)).isTrue();
                joined.append(token);
            }
            assertThat(joined.toString()).isEqualTo(text);
        }
    }

    @Test
    void chatLogprobTokensAndBytesConcatenateToTheContent() {
        JsonNode choice = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Once upon a")), "max_tokens", 16,
                "temperature", 0, "logprobs", true, "top_logprobs", 2)).json().get("choices").get(0);
        String content = choice.get("message").get("content").asText();
        StringBuilder tokens = new StringBuilder();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (JsonNode t : choice.get("logprobs").get("content")) {
            assertThat(t.get("bytes").isEmpty()).as("token %s", t).isEqualTo(t.get("token").asText().isEmpty());
            tokens.append(t.get("token").asText());
            for (JsonNode b : t.get("bytes")) bytes.write(b.asInt());
        }
        assertThat(tokens.toString()).isEqualTo(content);
        assertThat(bytes.toString(StandardCharsets.UTF_8)).isEqualTo(content);
    }

    /** Zero alternatives asked for (the default of many clients): the chosen token's logprob, no top list, no 500. */
    @Test
    void logprobsWithZeroAlternatives() throws Exception {
        Http.Reply completion = http.post("/v1/completions", greedy("Once upon a time", 4, "logprobs", 0));
        assertThat(completion.status()).as(completion.body()).isEqualTo(200);
        JsonNode lp = completion.json().get("choices").get(0).get("logprobs");
        assertThat(lp.get("tokens")).hasSize(4);
        assertThat(lp.get("token_logprobs").get(0).asDouble()).isLessThanOrEqualTo(0);

        Http.Reply chat = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Hi")), "max_tokens", 4,
                "temperature", 0, "logprobs", true));
        assertThat(chat.status()).as(chat.body()).isEqualTo(200);
        JsonNode content = chat.json().get("choices").get(0).get("logprobs").get("content");
        assertThat(content).hasSize(4);
        for (JsonNode t : content) assertThat(t.get("top_logprobs")).isEmpty();

        List<GenerateResponse> rs = grpc.generate(GenerateRequest.newBuilder().setText("Once upon a time").setMaxTokens(4).setTemperature(0).setTopLogprobs(0).build())
                .runWith(Sink.seq(), clientSystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        int tokens = 0;
        for (GenerateResponse r : rs) {
            if (!r.hasDelta()) continue;
            for (var l : r.getDelta().getLogprobsList()) {
                assertThat(l.getTopList()).isEmpty();
                assertThat(l.getLogprob()).isLessThanOrEqualTo(0f);
                tokens++;
            }
        }
        assertThat(tokens).isEqualTo(4);
    }

    @Test
    void textPromptLongerThanTheContextIs400() {
        Http.Reply r = http.post("/v1/completions", greedy("Once upon a time there was a cat. ".repeat(120), 5));
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.json().get("error").get("message").asText()).contains("context");
        // the engine's scheduler measures it: the same code and param as a token-id prompt's
        assertThat(r.json().get("error").get("code").asText()).isEqualTo("context_length_exceeded");
        assertThat(r.json().get("error").get("param").asText()).isEqualTo("prompt");
        Http.Reply chat = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Once upon a time there was a cat. ".repeat(120))),
                "max_tokens", 5));
        assertThat(chat.status()).isEqualTo(400);
        assertThat(chat.json().get("error").get("code").asText()).isEqualTo("context_length_exceeded");
        assertThat(chat.json().get("error").get("param").asText()).isEqualTo("messages");
    }

}
