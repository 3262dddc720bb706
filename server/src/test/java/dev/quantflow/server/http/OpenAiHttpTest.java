package dev.quantflow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The OpenAI HTTP mapping against a scripted engine: shapes of responses and chunks, parameters passed on. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OpenAiHttpTest {
    private ScriptedEngine engine;
    private QuantflowServer server;
    private Http http;

    @BeforeAll
    void start() {
        engine = new ScriptedEngine();
        server = engine.startServer(Map.of());
        http = new Http(server.httpPort());
    }

    @AfterAll
    void stop() {
        server.close();
    }

    @Test
    void completionHasOpenAisShapeAndUsage() {
        Http.Reply r = http.post("/v1/completions", Map.of("model", "stories260K", "prompt", "Once upon a time", "max_tokens", 5, "temperature", 0));
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.header("content-type")).hasValueSatisfying(ct -> assertThat(ct).startsWith("application/json"));
        JsonNode j = r.json();
        assertThat(j.get("id").asText()).startsWith("cmpl-");
        assertThat(r.header("x-request-id")).contains(j.get("id").asText());
        assertThat(j.get("object").asText()).isEqualTo("text_completion");
        assertThat(j.get("created").asLong()).isPositive();
        assertThat(j.get("model").asText()).isEqualTo("stories260K");
        JsonNode c = j.get("choices").get(0);
        assertThat(c.get("index").asInt()).isZero();
        assertThat(c.get("text").asText()).isEqualTo(engine.scriptText(5));
        assertThat(c.get("finish_reason").asText()).isEqualTo("length");
        assertThat(c.has("logprobs")).isTrue();
        assertThat(c.get("logprobs").isNull()).isTrue();
        int promptTokens = engine.tokenizer().encode("Once upon a time").length;
        assertThat(j.get("usage").get("prompt_tokens").asInt()).isEqualTo(promptTokens);
        assertThat(j.get("usage").get("completion_tokens").asInt()).isEqualTo(5);
        assertThat(j.get("usage").get("total_tokens").asInt()).isEqualTo(promptTokens + 5);
    }

    @Test
    void parametersReachTheEngine() {
        http.post("/v1/completions", Map.of("prompt", List.of(1, 403, 407), "max_tokens", 7, "temperature", 0.5, "top_p", 0.9, "top_k", 40,
                "seed", 1234, "stop", List.of("\n", "END"), "ignore_eos", true, "unknown_field", Map.of("x", 1)));
        var req = engine.last();
        assertThat(req.prompt()).isInstanceOf(Prompt.Tokens.class);
        assertThat(((Prompt.Tokens) req.prompt()).ids()).containsExactly(1, 403, 407);
        assertThat(req.options().maxTokens()).isEqualTo(7);
        assertThat(req.options().sampling().temperature()).isEqualTo(0.5f);
        assertThat(req.options().sampling().topP()).isEqualTo(0.9f);
        assertThat(req.options().sampling().topK()).isEqualTo(40);
        assertThat(req.options().sampling().seed()).isEqualTo(1234L);
        assertThat(req.options().stop()).containsExactly("\n", "END");
        assertThat(req.options().ignoreEos()).isTrue();
        assertThat(req.topLogprobs()).isEqualTo(-1);
        assertThat(req.n()).isEqualTo(1);
    }

    @Test
    void samplingExtensionsReachTheEngine() {
        Map<String, Object> body = new LinkedHashMap<>(Map.of("prompt", "Hi", "max_tokens", 7, "n", 2, "best_of", 3, "presence_penalty", 0.5,
                "frequency_penalty", -0.25, "repetition_penalty", 1.1, "logit_bias", Map.of("403", -100, "407", 2.5), "min_tokens", 3));
        body.putAll(Map.of("stop_token_ids", List.of(2, 5), "skip_special_tokens", false, "include_stop_str_in_output", true, "echo", true, "logprobs", 1));
        assertThat(http.post("/v1/completions", body).status()).isEqualTo(200);
        var req = engine.last();
        assertThat(req.n()).isEqualTo(2);
        assertThat(req.bestOf()).isEqualTo(3);
        assertThat(req.promptLogprobs()).isTrue();
        var s = req.options().sampling();
        assertThat(s.presencePenalty()).isEqualTo(0.5f);
        assertThat(s.frequencyPenalty()).isEqualTo(-0.25f);
        assertThat(s.repetitionPenalty()).isEqualTo(1.1f);
        assertThat(s.logitBias()).containsEntry(403, -100f).containsEntry(407, 2.5f).hasSize(2);
        assertThat(req.options().minTokens()).isEqualTo(3);
        assertThat(req.options().stopTokenIds()).containsExactly(2, 5);
        assertThat(req.options().skipSpecialTokens()).isFalse();
        assertThat(req.options().includeStopStrInOutput()).isTrue();
    }

    @Test
    void completionsDefaultTo16TokensAndChatToTheContext() {
        http.post("/v1/completions", Map.of("prompt", "Hi"));
        assertThat(engine.last().options().maxTokens()).isEqualTo(16);
        assertThat(engine.last().options().sampling().temperature()).isEqualTo(1f);
        http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Hi"))));
        assertThat(engine.last().options().maxTokens()).isEqualTo(engine.contextLength());
        http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Hi")), "max_tokens", 9, "max_completion_tokens", 3));
        assertThat(engine.last().options().maxTokens()).isEqualTo(3);
    }

    @Test
    void streamedCompletionSendsChunksThenDone() {
        try (Http.SseStream s = http.stream("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 6, "temperature", 0, "stream", true))) {
            assertThat(s.status()).isEqualTo(200);
            assertThat(s.response.headers().firstValue("content-type")).hasValueSatisfying(ct -> assertThat(ct).startsWith("text/event-stream"));
            List<String> data = s.rest();
            assertThat(data.getLast()).isEqualTo("[DONE]");
            StringBuilder text = new StringBuilder();
            List<JsonNode> chunks = data.subList(0, data.size() - 1).stream().map(Http::json).toList();
            String id = chunks.getFirst().get("id").asText();
            for (JsonNode c : chunks) {
                assertThat(c.get("id").asText()).isEqualTo(id);
                assertThat(c.get("object").asText()).isEqualTo("text_completion");
                assertThat(c.has("usage")).isFalse();
                text.append(c.get("choices").get(0).get("text").asText());
            }
            assertThat(text.toString()).isEqualTo(engine.scriptText(6));
            JsonNode last = chunks.getLast().get("choices").get(0);
            assertThat(last.get("finish_reason").asText()).isEqualTo("length");
            assertThat(chunks.subList(0, chunks.size() - 1)).allSatisfy(c -> assertThat(c.get("choices").get(0).get("finish_reason").isNull()).isTrue());
        }
    }

    @Test
    void includeUsageAddsAChunkWithEmptyChoices() {
        try (Http.SseStream s = http.stream("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Hello")),
                "max_tokens", 4, "stream", true, "stream_options", Map.of("include_usage", true)))) {
            List<JsonNode> chunks = s.rest().stream().filter(d -> !d.equals("[DONE]")).map(Http::json).toList();
            JsonNode usage = chunks.getLast();
            assertThat(usage.get("choices").isArray()).isTrue();
            assertThat(usage.get("choices")).isEmpty();
            assertThat(usage.get("usage").get("completion_tokens").asInt()).isEqualTo(4);
            assertThat(usage.get("usage").get("total_tokens").asInt()).isEqualTo(usage.get("usage").get("prompt_tokens").asInt() + 4);
            for (JsonNode c : chunks.subList(0, chunks.size() - 1)) {
                assertThat(c.has("usage")).isTrue();
                assertThat(c.get("usage").isNull()).isTrue();
            }
        }
    }

    @Test
    void chatStreamStartsWithTheRoleAndEndsWithAnEmptyDelta() {
        try (Http.SseStream s = http.stream("/v1/chat/completions", Map.of("model", "stories260K", "messages",
                List.of(Map.of("role", "system", "content", "Be brief."), Map.of("role", "user", "content", List.of(Map.of("type", "text", "text", "Hello")))),
                "max_completion_tokens", 50, "stream", true))) {
            List<String> data = s.rest();
            assertThat(data.getLast()).isEqualTo("[DONE]");
            List<JsonNode> chunks = data.subList(0, data.size() - 1).stream().map(Http::json).toList();
            JsonNode first = chunks.getFirst();
            assertThat(first.get("object").asText()).isEqualTo("chat.completion.chunk");
            assertThat(first.get("id").asText()).startsWith("chatcmpl-");
            assertThat(first.get("choices").get(0).get("delta").get("role").asText()).isEqualTo("assistant");
            StringBuilder text = new StringBuilder();
            for (JsonNode c : chunks) {
                JsonNode d = c.get("choices").get(0).get("delta");
                if (d.has("content")) text.append(d.get("content").asText());
            }
            assertThat(text.toString()).isEqualTo(engine.scriptText(50));
            JsonNode last = chunks.getLast().get("choices").get(0);
            assertThat(last.get("delta").isEmpty()).isTrue();
            assertThat(last.get("finish_reason").asText()).isEqualTo("stop");
        }
        var chat = (Prompt.Chat) engine.last().prompt();
        assertThat(chat.messages()).containsExactly(new Prompt.ChatMessage("system", "Be brief."), new Prompt.ChatMessage("user", "Hello"));
        assertThat(chat.addGenerationPrompt()).isTrue();
    }

    /** An agent loop's next turn: the assistant's calls (content null) and the tool's answer reach the engine whole. */
    @Test
    void toolCallHistoryReachesTheEngine() {
        Map<String, Object> call = Map.of("id", "call_1", "type", "function", "function", Map.of("name", "get_weather", "arguments", "{\"city\": \"Paris\"}"));
        Map<String, Object> assistant = new LinkedHashMap<>();
        assistant.put("role", "assistant");
        assistant.put("content", null);
        assistant.put("tool_calls", List.of(call));
        Http.Reply r = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Weather in Paris?"), assistant,
                Map.of("role", "tool", "tool_call_id", "call_1", "name", "get_weather", "content", "21"), Map.of("role", "developer", "content", "Be brief.")),
                "max_tokens", 3));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        var chat = (Prompt.Chat) engine.last().prompt();
        assertThat(chat.messages()).containsExactly(new Prompt.ChatMessage("user", "Weather in Paris?"),
                new Prompt.ChatMessage("assistant", "", List.of(new Prompt.ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}")), "", ""),
                new Prompt.ChatMessage("tool", "21", List.of(), "call_1", "get_weather"), new Prompt.ChatMessage("developer", "Be brief."));
    }

    @Test
    void chatCompletionHasAnAssistantMessage() {
        Http.Reply r = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Hello")), "max_tokens", 3));
        assertThat(r.status()).isEqualTo(200);
        JsonNode j = r.json();
        assertThat(j.get("object").asText()).isEqualTo("chat.completion");
        JsonNode msg = j.get("choices").get(0).get("message");
        assertThat(msg.get("role").asText()).isEqualTo("assistant");
        assertThat(msg.get("content").asText()).isEqualTo(engine.scriptText(3));
        assertThat(j.get("choices").get(0).get("finish_reason").asText()).isEqualTo("length");
        assertThat(j.get("usage").get("completion_tokens").asInt()).isEqualTo(3);
    }

    @Test
    void logprobsInBothShapes() {
        JsonNode c = http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 2, "logprobs", 1)).json().get("choices").get(0).get("logprobs");
        assertThat(engine.last().topLogprobs()).isEqualTo(1);
        assertThat(c.get("tokens")).hasSize(2);
        assertThat(c.get("token_logprobs").get(0).asDouble()).isEqualTo(-0.5);
        assertThat(c.get("top_logprobs").get(0).size()).isEqualTo(1);
        assertThat(c.get("text_offset").get(0).asInt()).isZero();
        assertThat(c.get("text_offset").get(1).asInt()).isEqualTo(c.get("tokens").get(0).asText().length());

        JsonNode chat = http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", "Hi")), "max_tokens", 2,
                "logprobs", true, "top_logprobs", 1)).json().get("choices").get(0).get("logprobs").get("content");
        assertThat(chat).hasSize(2);
        assertThat(chat.get(0).get("logprob").asDouble()).isEqualTo(-0.5);
        assertThat(chat.get(0).get("bytes").isArray()).isTrue();
        assertThat(chat.get(0).get("top_logprobs")).hasSize(1);
    }

    @Test
    void modelsListsTheServedModel() {
        JsonNode j = http.get("/v1/models").json();
        assertThat(j.get("object").asText()).isEqualTo("list");
        assertThat(j.get("data").get(0).get("id").asText()).isEqualTo("stories260K");
        assertThat(j.get("data").get(0).get("object").asText()).isEqualTo("model");
        assertThat(j.get("data").get(0).get("owned_by").asText()).isEqualTo("quantflow");
        assertThat(http.get("/v1/models/stories260K").status()).isEqualTo(200);
        assertThat(http.get("/v1/models/gpt-4").status()).isEqualTo(404);
    }

    @Test
    void tokenizeAndDetokenize() {
        JsonNode t = http.post("/tokenize", Map.of("prompt", "Once upon a time")).json();
        int[] ids = engine.tokenizer().encode("Once upon a time");
        assertThat(t.get("count").asInt()).isEqualTo(ids.length);
        assertThat(t.get("tokens").get(0).asInt()).isEqualTo(ids[0]);
        JsonNode d = http.post("/detokenize", Map.of("tokens", List.of(403, 407))).json();
        assertThat(d.get("prompt").asText()).isEqualTo(engine.tokenizer().decode(403, 407));
    }

    @Test
    void healthAndReadiness() {
        assertThat(http.get("/health/live").status()).isEqualTo(200);
        Http.Reply ready = http.get("/health/ready");
        assertThat(ready.status()).isEqualTo(200);
        assertThat(ready.json().get("status").asText()).isEqualTo("ready");
    }

    @Test
    void metricsUseVllmNamesWithOurPrefix() {
        http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 2));
        Http.Reply m = http.get("/metrics");
        assertThat(m.status()).isEqualTo(200);
        assertThat(m.header("content-type")).hasValueSatisfying(ct -> assertThat(ct).startsWith("text/plain"));
        assertThat(m.body()).contains(
                "# HELP quantflow_num_requests_running ", "quantflow_num_requests_waiting{model_name=\"stories260K\"} ", "quantflow_kv_cache_usage_perc{model_name=\"stories260K\"} ",
                "quantflow_time_to_first_token_seconds_bucket{model_name=\"stories260K\",le=", "quantflow_inter_token_latency_seconds_bucket",
                "quantflow_e2e_request_latency_seconds_count", "quantflow_request_queue_time_seconds_count",
                "quantflow_request_prefill_time_seconds_count", "quantflow_request_decode_time_seconds_count",
                "quantflow_prompt_tokens_total{model_name=\"stories260K\"} ", "quantflow_generation_tokens_total{model_name=\"stories260K\"} ", "quantflow_request_success_total{finished_reason=\"length\",model_name=\"stories260K\"}",
                "quantflow_num_preemptions_total{model_name=\"stories260K\"} ", "quantflow_prefix_cache_queries_total{model_name=\"stories260K\"} ", "quantflow_prefix_cache_hits_total{model_name=\"stories260K\"} ",
                "quantflow_kv_cache_blocks_cached{model_name=\"stories260K\"} ", "quantflow_http_requests_total{endpoint=\"/v1/completions\",model_name=\"stories260K\",status=\"200\"}",
                "quantflow_batch_size{model_name=\"stories260K\"} ", "quantflow_stage_step_time_seconds{device=\"cpu\",model_name=\"stories260K\",stage=\"0\"}",
                "quantflow_llm_int8_outlier_column_fraction{layer=", "quantflow_device_memory_bytes{", "jvm_memory_used_bytes", "process_cpu_usage");
        assertThat(m.body()).doesNotContain("# HELP quantflow_num_requests_running  \n");
        // every series carries the served model's name (vLLM's model_name label), so servers behind one Prometheus stay apart
        assertThat(m.body().lines().filter(l -> l.startsWith("quantflow_")).toList()).allSatisfy(l -> assertThat(l).contains("model_name=\"stories260K\""));
    }
}
