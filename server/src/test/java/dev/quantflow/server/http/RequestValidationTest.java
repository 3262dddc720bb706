package dev.quantflow.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.ScriptedEngine;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the HTTP API accepts, through the real server: every numeric parameter at its edges, the
 * OpenAI and vLLM parameters it does not implement, strict UTF-8, prompts longer than the context.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RequestValidationTest {
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

    private static JsonNode error400(Http.Reply r) {
        assertThat(r.status()).as(r.body()).isEqualTo(400);
        JsonNode e = r.json().get("error");
        assertThat(e).as(r.body()).isNotNull();
        assertThat(e.get("type").asText()).isEqualTo("invalid_request_error");
        assertThat(e.get("message").asText()).isNotBlank();
        return e;
    }

    private static final String CHAT_MESSAGES = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";
    private static final String CHAT = CHAT_MESSAGES + ", \"max_tokens\": 2";

    /** endpoint c = completions, h = chat (with logprobs: true for top_logprobs); expect 200 or 400 naming the field. */
    @ParameterizedTest(name = "{0} {1} = {2} -> {3}")
    @CsvSource(delimiter = '|', value = {
            // temperature: [0, 2]; below the smallest float it is 0, greedy
            "c|temperature|0|200", "c|temperature|-0.0|200", "c|temperature|1e-300|200", "c|temperature|4.9e-324|200", "c|temperature|2|200",
            "c|temperature|2.0000001|400", "c|temperature|1e308|400", "c|temperature|-1e-300|400", "c|temperature|-1|400", "c|temperature|1e400|400",
            "c|temperature|\"1\"|400",
            // top_p: (0, 1], also as the float the sampler uses (1e-300 and 1e-46 are 0 as floats: these were 500s)
            "c|top_p|0|400", "c|top_p|1e-300|400", "c|top_p|1e-46|400", "c|top_p|4.9e-324|400", "c|top_p|1e-40|200", "c|top_p|1|200",
            "c|top_p|1.0000001|400", "c|top_p|1e400|400", "c|top_p|-0.5|400", "c|top_p|-0.0|400",
            // top_k: an integer, -1 or 0 off
            "c|top_k|0|200", "c|top_k|-1|200", "c|top_k|2147483647|200", "c|top_k|1.0|200", "c|top_k|-2|400", "c|top_k|2.5|400",
            "c|top_k|1e10|400", "c|top_k|9223372036854775808|400", "c|top_k|4.9e-324|400",
            // min_p: [0, 1]
            "c|min_p|0|200", "c|min_p|1e-300|200", "c|min_p|0.5|200", "c|min_p|1|200", "c|min_p|1.5|400", "c|min_p|-0.1|400", "c|min_p|1e400|400",
            // seed: any 64-bit integer
            "c|seed|0|200", "c|seed|-1|200", "c|seed|9223372036854775807|200", "c|seed|-9223372036854775808|200",
            "c|seed|9223372036854775808|400", "c|seed|1.5|400", "c|seed|1e20|400", "c|seed|4.9e-324|400",
            // max_tokens: >= 1; above the context means up to the context end
            "c|max_tokens|1|200", "c|max_tokens|2147483648|200", "c|max_tokens|9223372036854775807|200", "c|max_tokens|0|400",
            "c|max_tokens|-1|400", "c|max_tokens|1.5|400", "c|max_tokens|1e300|400",
            "h|max_completion_tokens|1|200", "h|max_completion_tokens|0|400", "h|max_completion_tokens|-9223372036854775808|400",
            // logprobs (completions) and top_logprobs (chat): 0..20
            "c|logprobs|20|200", "c|logprobs|21|400", "c|logprobs|-1|400", "c|logprobs|1.5|400", "c|logprobs|1e10|400",
            "h|top_logprobs|1|200", "h|top_logprobs|20|200", "h|top_logprobs|21|400", "h|top_logprobs|-1|400", "h|top_logprobs|2.5|400",
            // n 1..16, best_of n..16, penalties in OpenAI's [-2, 2], repetition_penalty > 0 (finite as a float), min_tokens 0..max_tokens
            "c|n|1|200", "c|n|1.0|200", "c|n|0|400", "c|n|2|200", "c|n|16|200", "c|n|17|400", "c|n|1.5|400", "h|n|3|200", "h|n|-1|400",
            "c|presence_penalty|0|200", "c|presence_penalty|-0.0|200", "c|presence_penalty|1e-300|200", "c|presence_penalty|2|200",
            "c|presence_penalty|2.01|400", "h|frequency_penalty|0|200", "h|frequency_penalty|-2|200", "h|frequency_penalty|-2.5|400",
            "c|repetition_penalty|1|200", "c|repetition_penalty|0|400", "c|repetition_penalty|-1|400", "c|repetition_penalty|1e300|400",
            "c|repetition_penalty|1e-300|400", "c|repetition_penalty|1.3|200", "c|best_of|1|200", "c|best_of|2|200", "c|best_of|17|400",
            "c|min_tokens|0|200", "c|min_tokens|2|200", "c|min_tokens|3|400", "c|min_tokens|-1|400", "h|min_tokens|1.5|400"})
    void numericEdges(String endpoint, String field, String json, int status) {
        String max = field.startsWith("max_") ? "" : ", \"max_tokens\": 2";
        String body = endpoint.equals("c")
                ? "{\"prompt\": \"Hello\"" + max + ", \"" + field + "\": " + json + "}"
                : CHAT_MESSAGES + max + (field.equals("top_logprobs") ? ", \"logprobs\": true" : "") + ", \"" + field + "\": " + json + "}";
        Http.Reply r = http.post(endpoint.equals("c") ? "/v1/completions" : "/v1/chat/completions", body);
        if (status == 200) {
            assertThat(r.status()).as(r.body()).isEqualTo(200);
        } else {
            assertThat(error400(r).get("param").asText()).as(r.body()).isEqualTo(field);
        }
    }

    @Test
    void edgeValuesHaveTheirDefinedMeaning() {
        assertThat(http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 2, "temperature", 1e-300)).status()).isEqualTo(200);
        assertThat(engine.last().options().sampling().greedy()).isTrue();
        assertThat(http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", Long.MAX_VALUE)).status()).isEqualTo(200);
        assertThat(engine.last().options().maxTokens()).isEqualTo(ScriptedEngine.CONTEXT);
        assertThat(http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 2, "top_k", -1, "min_p", 0.25)).status()).isEqualTo(200);
        assertThat(engine.last().options().sampling().topK()).isZero();
        assertThat(engine.last().options().sampling().minP()).isEqualTo(0.25f);
        // the same message as the CLI's (GenerateCommandTest), from the engine's SamplingParams
        assertThat(error400(http.post("/v1/completions", Map.of("prompt", "Hi", "temperature", 9))).get("message").asText())
                .isEqualTo("temperature must be between 0 and 2, got 9.0");
    }

    @org.junit.jupiter.api.Test
    void structuredOutputAndForcedToolCallsReachTheEngineAsConstraints() {
        assertThat(http.post("/v1/chat/completions", CHAT + ", \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\","
                + " \"schema\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}}}}").status()).isEqualTo(200);
        assertThat(engine.last().options().constraint().orElseThrow().kind()).isEqualTo(dev.quantflow.engine.structured.OutputConstraint.Kind.JSON_SCHEMA);
        assertThat(http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 2, "guided_choice", java.util.List.of("x", "y"))).status()).isEqualTo(200);
        assertThat(engine.last().options().constraint().orElseThrow().kind()).isEqualTo(dev.quantflow.engine.structured.OutputConstraint.Kind.CHOICE);
        String tools = "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"boolean\"}}}}}]";
        assertThat(http.post("/v1/chat/completions", CHAT + ", \"tools\": " + tools + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"f\"}}}").status()).isEqualTo(200);
        assertThat(engine.last().options().constraint().orElseThrow().automaton().matches("{\"x\": true}")).isTrue();
        assertThat(((dev.quantflow.actors.api.Prompt.Chat) engine.last().prompt()).tools()).contains("\"name\":\"f\"");
        JsonNode both = error400(http.post("/v1/chat/completions", CHAT + ", \"tools\": " + tools + ", \"tool_choice\": \"required\", \"guided_regex\": \"a\"}"));
        assertThat(both.get("param").asText()).isEqualTo("tool_choice");
    }

    /** An agent loop's history is checked: each refusal names the message's field. */
    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
            "{\"role\": \"robot\", \"content\": \"x\"}|messages[1].role",
            "{\"role\": \"tool\", \"content\": \"21\"}|messages[1].tool_call_id",
            "{\"role\": \"user\", \"content\": \"x\", \"tool_call_id\": \"c\"}|messages[1].tool_call_id",
            "{\"role\": \"user\"}|messages[1].content",
            "{\"role\": \"user\", \"content\": \"x\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]}|messages[1].tool_calls",
            "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"a\\\": \"}}]}|messages[1].tool_calls[0].function.arguments",
            "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{} x\"}}]}|messages[1].tool_calls[0].function.arguments",
            "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": 3}}]}|messages[1].tool_calls[0].function.arguments",
            "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"type\": \"function\", \"function\": {\"arguments\": \"{}\"}}]}|messages[1].tool_calls[0].function.name",
            "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\", \"type\": \"custom\", \"function\": {\"name\": \"f\"}}]}|messages[1].tool_calls[0].type",
            "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"c\"}]}|messages[1].tool_calls[0].function",
            "{\"role\": \"assistant\", \"tool_calls\": {}}|messages[1].tool_calls"})
    void toolHistoryIsCheckedNamingTheField(String message, String field) {
        for (String path : List.of("/v1/chat/completions", "/tokenize")) {
            String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, " + message + "]}";
            JsonNode e = error400(http.post(path, body));
            assertThat(e.get("param").asText()).as(path).isEqualTo(field);
            assertThat(e.get("message").asText()).contains(field);
        }
    }

    /** One value per unimplemented parameter that would change the output (or an implemented one's refused value): each a 400 naming it. */
    @ParameterizedTest(name = "{0} {1} = {2} -> 400")
    @CsvSource(delimiter = '|', value = {
            "h|echo|true", "c|suffix|\"end\"", "c|suffix|[]", "c|logit_bias|[1]", "c|logit_bias|\"\"", "c|logit_bias|{\"x\": 1}", "h|tools|[{\"type\": \"function\"}]",
            "h|functions|[{\"name\": \"f\"}]", "h|tool_choice|\"required\"", "h|tool_choice|{\"type\": \"function\"}", "h|function_call|{\"name\": \"f\"}",
            "h|response_format|{\"type\": \"json_schema\"}", "h|response_format|{\"type\": \"xml\"}", "h|response_format|\"text\"", "h|modalities|[\"text\", \"audio\"]",
            "h|audio|{\"voice\": \"alloy\"}", "h|web_search_options|{}", "h|verbosity|\"high\"",
            "c|length_penalty|0.5", "c|use_beam_search|true", "c|stop_token_ids|[-2]", "c|stop_token_ids|\"x\"",
            "c|include_stop_str_in_output|\"yes\"", "c|skip_special_tokens|1", "c|truncate_prompt_tokens|10", "c|allowed_token_ids|[1, 2]",
            "c|bad_words|[\"x\"]", "c|logits_processors|[\"p\"]", "c|prompt_logprobs|-1", "h|prompt_logprobs|21", "c|return_tokens_as_token_ids|true",
            "c|return_token_ids|true", "c|guided_json|{\"type\": \"integer\", \"minimum\": 1}", "c|guided_regex|\"(a)\\\\1\"", "h|guided_choice|[]", "c|guided_grammar|\"g\"",
            "h|structured_outputs|{\"regex\": \"a\"}", "c|priority|1", "c|add_special_tokens|false", "h|add_special_tokens|true",
            "h|continue_final_message|\"yes\"", "h|chat_template|\"{{ x }}\"", "h|chat_template_kwargs|{\"a\": 1}", "h|documents|[{\"text\": \"d\"}]",
            "c|mm_processor_kwargs|{\"a\": 1}", "c|vllm_xargs|{\"a\": 1}", "c|stream_options|{\"continuous_usage_stats\": true}"})
    void unimplementedParametersAreRefusedNamingThem(String endpoint, String field, String json) {
        String body = endpoint.equals("c")
                ? "{\"prompt\": \"Hello\", \"max_tokens\": 2, \"stream\": true, \"" + field + "\": " + json + "}"
                : CHAT + ", \"stream\": true, \"" + field + "\": " + json + "}";
        JsonNode e = error400(http.post(endpoint.equals("c") ? "/v1/completions" : "/v1/chat/completions", body));
        assertThat(e.get("param").asText()).isEqualTo(field);
        assertThat(e.get("message").asText()).contains(field);
    }

    @Test
    void neutralAndHarmlesslyIgnoredParametersAreAccepted() {
        Http.Reply c = http.post("/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 2, \"echo\": false, \"suffix\": \"\", \"logit_bias\": {},"
                + " \"length_penalty\": 1, \"use_beam_search\": false, \"min_tokens\": 0, \"stop_token_ids\": [], \"include_stop_str_in_output\": false,"
                + " \"skip_special_tokens\": true, \"spaces_between_special_tokens\": true, \"allowed_token_ids\": [], \"bad_words\": [],"
                + " \"return_tokens_as_token_ids\": false, \"priority\": 0, \"add_special_tokens\": true, \"user\": \"u\", \"request_id\": \"r\","
                + " \"cache_salt\": \"s\", \"guided_decoding_backend\": \"xgrammar\", \"truncate_prompt_tokens\": null, \"min_p\": 0}");
        assertThat(c.status()).as(c.body()).isEqualTo(200);
        Http.Reply h = http.post("/v1/chat/completions", CHAT + ", \"tools\": [], \"tool_choice\": \"none\", \"parallel_tool_calls\": false,"
                + " \"response_format\": {\"type\": \"text\"}, \"modalities\": [\"text\"], \"metadata\": {\"k\": \"v\"}, \"store\": false,"
                + " \"service_tier\": \"auto\", \"prompt_cache_key\": \"k\", \"safety_identifier\": \"s\", \"reasoning_effort\": \"low\","
                + " \"prediction\": {\"type\": \"content\", \"content\": \"x\"}, \"verbosity\": \"medium\", \"add_special_tokens\": false,"
                + " \"continue_final_message\": false, \"chat_template_kwargs\": {}, \"stream\": true,"
                + " \"stream_options\": {\"include_usage\": true, \"include_obfuscation\": false}}");
        assertThat(h.status()).as(h.body()).isEqualTo(200);
    }

    /** Bytes that are not UTF-8 (RFC 3629): docs/API.md promises a 400 for each. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"c0af", "e080af", "eda080", "edbfbf", "f4908080", "f8888080af", "c3", "ff", "80"})
    void invalidUtf8InsideAStringIs400(String hex) {
        JsonNode e = error400(http.postBytes("/v1/completions", body(HexFormat.of().parseHex(hex))));
        assertThat(e.get("message").asText()).contains("UTF-8");
    }

    @Test
    void validUtf8AndAByteOrderMarkAreAccepted() {
        // U+1F600 (4 bytes), U+10FFFF (the largest code point), U+FFFD and U+E000 (3 bytes)
        assertThat(http.postBytes("/v1/completions", body(HexFormat.of().parseHex("f09f9880f48fbfbfefbfbdee8080"))).status()).isEqualTo(200);
        ByteArrayOutputStream bom = new ByteArrayOutputStream();
        bom.writeBytes(HexFormat.of().parseHex("efbbbf"));
        bom.writeBytes(body(new byte[0]));
        assertThat(http.postBytes("/v1/completions", bom.toByteArray()).status()).isEqualTo(200);
    }

    private static byte[] body(byte[] inside) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes("{\"max_tokens\": 1, \"prompt\": \"a".getBytes(StandardCharsets.UTF_8));
        b.writeBytes(inside);
        b.writeBytes("b\"}".getBytes(StandardCharsets.UTF_8));
        return b.toByteArray();
    }

    @Test
    void textAndChatPromptsLongerThanTheContextAreContextLengthExceeded() {
        String longText = "Once upon a time ".repeat(300);
        JsonNode t = error400(http.post("/v1/completions", Map.of("prompt", longText)));
        assertThat(t.get("code").asText()).isEqualTo("context_length_exceeded");
        assertThat(t.get("param").asText()).isEqualTo("prompt");
        assertThat(t.get("message").asText()).contains("context");
        JsonNode listed = error400(http.post("/v1/completions", Map.of("prompt", List.of(longText), "stream", true)));
        assertThat(listed.get("code").asText()).isEqualTo("context_length_exceeded");
        for (boolean stream : new boolean[] {false, true}) {
            JsonNode c = error400(http.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "user", "content", longText)), "stream", stream)));
            assertThat(c.get("code").asText()).as("stream %s", stream).isEqualTo("context_length_exceeded");
            assertThat(c.get("param").asText()).isEqualTo("messages");
        }
    }
}
