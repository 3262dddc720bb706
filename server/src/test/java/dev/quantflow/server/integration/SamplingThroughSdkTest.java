package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.GenerateResult;
import dev.quantflow.engine.sample.SamplingParams;
import dev.quantflow.proto.v1.GenerateRequest;
import dev.quantflow.proto.v1.GenerateResponse;
import dev.quantflow.proto.v1.GenerationServiceClient;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import dev.quantflow.server.api.ServerVersion;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
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
 * The sampling and decoding parameters through the real server on stories260K, sent by the
 * official openai npm client, whole and streamed: n / best_of (choice indices, seed per choice,
 * usage), the penalties, logit_bias, min_p, min_tokens, stop_token_ids, skip_special_tokens,
 * include_stop_str_in_output, echo (with prompt logprobs), the model card, and the 400s naming the
 * field; /version, /tokenize, /detokenize and the model_name label in vLLM's shapes. Greedy outputs equal the
 * reference generate loop run with the same options; streamed equals whole. gRPC carries the same.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SamplingThroughSdkTest {
    private static final String PROMPT = "Once upon a time";
    private static final String LONG_PROMPT = "Once upon a time there was a little girl named Lily. She loved to play outside in the park with her"
            + " friends. One day she saw a big red ball under a tree. She ran to the ball and picked it up. Her mom said";

    private Reference reference;
    private QuantflowServer server;
    private ActorSystem<Void> clientSystem;
    private GenerationServiceClient grpc;

    @BeforeAll
    void start() {
        reference = new Reference();
        server = TestServers.start(PipelineEngine.start(EngineConfig.builder(Reference.MODEL).maxSequences(32).build()), Map.of());
        clientSystem = ActorSystem.create(Behaviors.empty(), "sampling-grpc-client");
        grpc = GenerationServiceClient.create(GrpcClientSettings.connectToServiceAt("127.0.0.1", server.grpcPort(), clientSystem).withTls(false), clientSystem);
    }

    @AfterAll
    void stop() {
        grpc.close();
        clientSystem.terminate();
        server.close();
        reference.close();
    }

    private static Map<String, Object> body(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", "stories260K");
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    /** The case whole and streamed (with include_usage), named name and name-stream. */
    private static List<OpenAiSdk.Case> both(String name, String api, Map<String, Object> body) {
        Map<String, Object> streamed = new LinkedHashMap<>(body);
        streamed.put("stream", true);
        streamed.put("stream_options", Map.of("include_usage", true));
        return List.of(new OpenAiSdk.Case(name, api, body), new OpenAiSdk.Case(name + "-stream", api, streamed));
    }

    private static List<String> texts(JsonNode answer) {
        assertThat(answer.get("ok").asBoolean()).as(answer.toString()).isTrue();
        List<String> out = new ArrayList<>();
        JsonNode choices = answer.get("result").get("choices");
        for (int i = 0; i < choices.size(); i++) {
            assertThat(choices.get(i).get("index").asInt()).isEqualTo(i);
            out.add(choices.get(i).get("text").asText());
        }
        return out;
    }

    private static void refused(JsonNode answer, String param, String messagePart) {
        assertThat(answer.get("ok").asBoolean()).as(answer.toString()).isFalse();
        assertThat(answer.get("status").asInt()).as(answer.toString()).isEqualTo(400);
        assertThat(answer.get("param").asText()).as(answer.toString()).isEqualTo(param);
        assertThat(answer.get("message").asText()).contains(messagePart);
    }

    private GenerateOptions greedy(int max, boolean ignoreEos, List<String> stop, double presence, double frequency, double repetition,
                                   Map<Integer, Double> bias, int minTokens, List<Integer> stopIds, boolean skip, boolean include) {
        return new GenerateOptions(max, SamplingParams.GREEDY.withAdjustments(presence, frequency, repetition, bias), ignoreEos, stop,
                minTokens, stopIds, skip, include);
    }

    @Test
    void everyParameterThroughTheOpenAiClient() throws Exception {
        var tok = reference.tokenizer();
        int eos = tok.eosTokenIds().iterator().next();
        GenerateResult plain = reference.generate(PROMPT, greedy(24, true, List.of(), 0, 0, 1, Map.of(), 0, List.of(), true, false));
        int firstToken = plain.tokens()[0];
        // a stop token id the greedy text reaches after min_tokens (5) and not before
        int stopId = -1;
        for (int i = 5; i < plain.tokens().length && stopId < 0; i++) {
            int t = plain.tokens()[i];
            if (Arrays.stream(plain.tokens(), 0, 5).noneMatch(x -> x == t)) stopId = t;
        }
        // penalties strong enough to change this model's greedy text (found on the reference, so the check cannot pass by a no-op)
        double[] pen = null;
        for (double[] c : new double[][] {{1.5, 1.0}, {2, 2}, {-2, -2}, {2, -2}}) {
            if (!reference.generate(PROMPT, greedy(24, true, List.of(), c[0], c[1], 1, Map.of(), 0, List.of(), true, false)).text().equals(plain.text())) { pen = c; break; }
        }
        double rep = Double.NaN;
        for (double c : new double[] {1.5, 2, 3, 0.5}) {
            if (!reference.generate(PROMPT, greedy(24, true, List.of(), 0, 0, c, Map.of(), 0, List.of(), true, false)).text().equals(plain.text())) { rep = c; break; }
        }
        assertThat(pen).as("some presence/frequency penalty changes the greedy text").isNotNull();
        assertThat(rep).as("some repetition penalty changes the greedy text").isNotNaN();
        // a stop string from the plain greedy text after its first word
        String stopString = plain.text().substring(plain.text().indexOf(' ', 1)).trim().split(" ")[0];

        List<OpenAiSdk.Case> cases = new ArrayList<>();
        cases.addAll(both("n3", "completions", body("prompt", PROMPT, "n", 3, "temperature", 1, "seed", 11, "max_tokens", 12, "ignore_eos", true)));
        cases.add(new OpenAiSdk.Case("seed11", "completions", body("prompt", PROMPT, "temperature", 1, "seed", 11, "max_tokens", 12, "ignore_eos", true)));
        cases.add(new OpenAiSdk.Case("seed12", "completions", body("prompt", PROMPT, "temperature", 1, "seed", 12, "max_tokens", 12, "ignore_eos", true)));
        cases.addAll(both("chat-n2", "chat", body("messages", List.of(Map.of("role", "user", "content", "Tell me a story")), "n", 2, "temperature", 1,
                "seed", 5, "max_tokens", 10, "ignore_eos", true)));
        cases.add(new OpenAiSdk.Case("n4-logprobs", "completions", body("prompt", PROMPT, "n", 4, "temperature", 1, "seed", 3, "max_tokens", 8,
                "ignore_eos", true, "logprobs", 0)));
        cases.add(new OpenAiSdk.Case("best-of-4", "completions", body("prompt", PROMPT, "n", 1, "best_of", 4, "temperature", 1, "seed", 3, "max_tokens", 8,
                "ignore_eos", true)));
        cases.add(new OpenAiSdk.Case("best-of-stream", "completions", body("prompt", PROMPT, "best_of", 2, "max_tokens", 4, "stream", true)));
        cases.addAll(both("penalties", "completions", body("prompt", PROMPT, "temperature", 0, "presence_penalty", pen[0], "frequency_penalty", pen[1],
                "max_tokens", 24, "ignore_eos", true)));
        cases.addAll(both("repetition", "completions", body("prompt", PROMPT, "temperature", 0, "repetition_penalty", rep, "max_tokens", 24, "ignore_eos", true)));
        cases.addAll(both("bias", "chat", body("messages", List.of(Map.of("role", "user", "content", PROMPT)), "temperature", 0,
                "logit_bias", Map.of(Integer.toString(firstToken), -100), "max_tokens", 16, "ignore_eos", true)));
        cases.add(new OpenAiSdk.Case("bias-completion", "completions", body("prompt", PROMPT, "temperature", 0,
                "logit_bias", Map.of(Integer.toString(firstToken), -100), "max_tokens", 16, "ignore_eos", true)));
        cases.addAll(both("min-p", "completions", body("prompt", PROMPT, "temperature", 1.5, "min_p", 1.0, "max_tokens", 24, "ignore_eos", true)));
        cases.addAll(both("min-tokens-stop-ids", "completions", body("prompt", PROMPT, "temperature", 0, "min_tokens", 5, "stop_token_ids", List.of(stopId),
                "max_tokens", 24)));
        cases.addAll(both("skip-special", "completions", body("prompt", PROMPT, "temperature", 0, "skip_special_tokens", false, "ignore_eos", true,
                "logit_bias", Map.of(Integer.toString(eos), 100), "max_tokens", 3)));
        cases.addAll(both("include-stop", "completions", body("prompt", PROMPT, "temperature", 0, "stop", List.of(stopString),
                "include_stop_str_in_output", true, "max_tokens", 24, "ignore_eos", true)));
        cases.addAll(both("echo", "completions", body("prompt", PROMPT, "temperature", 0, "echo", true, "max_tokens", 6, "ignore_eos", true)));
        cases.add(new OpenAiSdk.Case("suffix", "completions", body("prompt", PROMPT, "suffix", "The end.")));
        cases.add(new OpenAiSdk.Case("n-17", "completions", body("prompt", PROMPT, "n", 17)));
        cases.add(new OpenAiSdk.Case("best-of-below-n", "completions", body("prompt", PROMPT, "n", 3, "best_of", 2)));
        cases.add(new OpenAiSdk.Case("presence-3", "chat", body("messages", List.of(Map.of("role", "user", "content", "hi")), "presence_penalty", 3)));
        cases.add(new OpenAiSdk.Case("repetition-0", "completions", body("prompt", PROMPT, "repetition_penalty", 0)));
        cases.add(new OpenAiSdk.Case("bias-key", "completions", body("prompt", PROMPT, "logit_bias", Map.of("abc", 1))));
        cases.add(new OpenAiSdk.Case("bias-vocab", "completions", body("prompt", PROMPT, "logit_bias", Map.of("100000", 1))));
        cases.add(new OpenAiSdk.Case("bias-101", "completions", body("prompt", PROMPT, "logit_bias", Map.of("5", 101))));
        cases.add(new OpenAiSdk.Case("min-tokens-over-max", "completions", body("prompt", PROMPT, "min_tokens", 20, "max_tokens", 4)));
        cases.add(new OpenAiSdk.Case("stop-ids-vocab", "completions", body("prompt", PROMPT, "stop_token_ids", List.of(100000))));
        cases.addAll(both("echo-logprobs", "completions", body("prompt", PROMPT, "temperature", 0, "echo", true, "logprobs", 1, "max_tokens", 4, "ignore_eos", true)));

        cases.add(new OpenAiSdk.Case("models", "models", Map.of()));
        // a prompt of several full KV blocks, twice: the second would find them in the prefix cache, yet needs every row's logits
        cases.add(new OpenAiSdk.Case("echo-logprobs-long-1", "completions", body("prompt", LONG_PROMPT, "temperature", 0, "echo", true, "logprobs", 0, "max_tokens", 2)));
        cases.add(new OpenAiSdk.Case("echo-logprobs-long-2", "completions", body("prompt", LONG_PROMPT, "temperature", 0, "echo", true, "logprobs", 0, "max_tokens", 2)));

        // vLLM's prompt_logprobs: the prompt followed by its own greedy continuation scores those tokens at rank 1
        int[] promptThenGreedy = java.util.stream.IntStream.concat(Arrays.stream(tok.encode(PROMPT)), Arrays.stream(plain.tokens(), 0, 6)).toArray();
        cases.add(new OpenAiSdk.Case("prompt-logprobs", "completions", body("prompt", Arrays.stream(promptThenGreedy).boxed().toList(), "temperature", 0,
                "prompt_logprobs", 2, "max_tokens", 1, "n", 2)));
        cases.add(new OpenAiSdk.Case("prompt-logprobs-echo", "completions", body("prompt", PROMPT, "temperature", 0, "echo", true, "logprobs", 1,
                "prompt_logprobs", 3, "max_tokens", 4, "ignore_eos", true)));
        cases.add(new OpenAiSdk.Case("prompt-logprobs-chat", "chat", body("messages", List.of(Map.of("role", "user", "content", PROMPT)), "temperature", 0,
                "prompt_logprobs", 0, "max_tokens", 2)));
        cases.add(new OpenAiSdk.Case("prompt-logprobs-stream", "completions", body("prompt", PROMPT, "prompt_logprobs", 1, "stream", true)));
        cases.add(new OpenAiSdk.Case("prompt-logprobs-21", "chat", body("messages", List.of(Map.of("role", "user", "content", "hi")), "prompt_logprobs", 21)));

        Map<String, JsonNode> got = OpenAiSdk.install().run("http://127.0.0.1:" + server.httpPort() + "/v1", cases);
        int promptTokens = tok.encode(PROMPT).length;

        // n: three choices, each its own sequence; choice i samples with seed + i; usage: the prompt once, every choice's tokens
        List<String> n3 = texts(got.get("n3"));
        assertThat(n3).hasSize(3);
        assertThat(texts(got.get("n3-stream"))).isEqualTo(n3);
        assertThat(n3.get(0)).isEqualTo(texts(got.get("seed11")).getFirst());
        assertThat(n3.get(1)).isEqualTo(texts(got.get("seed12")).getFirst());
        assertThat(n3.stream().distinct().count()).as("seeded choices differ: %s", n3).isGreaterThan(1);
        for (String c : List.of("n3", "n3-stream")) {
            JsonNode usage = got.get(c).get("result").get("usage");
            assertThat(usage.get("prompt_tokens").asInt()).as(c).isEqualTo(promptTokens);
            assertThat(usage.get("completion_tokens").asInt()).as(c).isEqualTo(36);
            assertThat(usage.get("total_tokens").asInt()).as(c).isEqualTo(promptTokens + 36);
        }
        assertThat(got.get("n3-stream").get("result").get("choices").findValuesAsText("finish_reason")).containsOnly("length");

        List<String> chat = texts(got.get("chat-n2"));
        assertThat(chat).hasSize(2);
        assertThat(texts(got.get("chat-n2-stream"))).isEqualTo(chat);
        assertThat(got.get("chat-n2-stream").get("result").get("choices").findValuesAsText("role")).containsOnly("assistant");
        assertThat(got.get("chat-n2-stream").get("result").get("usage").get("completion_tokens").asInt()).isEqualTo(20);

        // best_of 4: the one of the 4 seeded sequences with the highest cumulative logprob
        JsonNode four = got.get("n4-logprobs").get("result").get("choices");
        int best = 0;
        double bestSum = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < four.size(); i++) {
            double sum = 0;
            for (JsonNode lp : four.get(i).get("logprobs").get("token_logprobs")) sum += lp.asDouble();
            if (sum > bestSum) { bestSum = sum; best = i; }
        }
        assertThat(texts(got.get("best-of-4"))).containsExactly(four.get(best).get("text").asText());
        assertThat(got.get("best-of-4").get("result").get("usage").get("completion_tokens").asInt()).isEqualTo(8);
        refused(got.get("best-of-stream"), "best_of", "cannot be streamed");

        // greedy with the logit adjustments equals the reference loop with the same options
        Map<String, GenerateOptions> refs = new LinkedHashMap<>();
        refs.put("penalties", greedy(24, true, List.of(), pen[0], pen[1], 1, Map.of(), 0, List.of(), true, false));
        refs.put("repetition", greedy(24, true, List.of(), 0, 0, rep, Map.of(), 0, List.of(), true, false));
        refs.put("bias-completion", greedy(16, true, List.of(), 0, 0, 1, Map.of(firstToken, -100.0), 0, List.of(), true, false));
        refs.put("min-p", greedy(24, true, List.of(), 0, 0, 1, Map.of(), 0, List.of(), true, false));
        refs.put("min-tokens-stop-ids", greedy(24, false, List.of(), 0, 0, 1, Map.of(), 5, List.of(stopId), true, false));
        refs.put("skip-special", greedy(3, true, List.of(), 0, 0, 1, Map.of(eos, 100.0), 0, List.of(), false, false));
        refs.put("include-stop", greedy(24, true, List.of(stopString), 0, 0, 1, Map.of(), 0, List.of(), true, true));
        for (Map.Entry<String, GenerateOptions> e : refs.entrySet()) {
            String expected = reference.generate(PROMPT, e.getValue()).text();
            assertThat(texts(got.get(e.getKey()))).as(e.getKey()).containsExactly(expected);
            if (got.containsKey(e.getKey() + "-stream")) assertThat(texts(got.get(e.getKey() + "-stream"))).as(e.getKey() + " streamed").containsExactly(expected);
        }
        assertThat(texts(got.get("penalties")).getFirst()).isNotEqualTo(plain.text());
        assertThat(texts(got.get("repetition")).getFirst()).isNotEqualTo(plain.text());
        assertThat(texts(got.get("bias-completion")).getFirst()).isNotEqualTo(plain.text());
        assertThat(texts(got.get("min-p")).getFirst()).as("min_p 1 keeps only the most likely token").isEqualTo(plain.text());
        assertThat(texts(got.get("skip-special")).getFirst()).isEqualTo(tok.tokenText(eos).repeat(3));
        assertThat(texts(got.get("include-stop")).getFirst()).endsWith(stopString);
        assertThat(texts(got.get("bias")).getFirst()).isEqualTo(texts(got.get("bias-stream")).getFirst()).isNotEmpty();
        GenerateResult stopped = reference.generate(PROMPT, refs.get("min-tokens-stop-ids"));
        assertThat(stopped.finishReason()).isEqualTo("stop");
        assertThat(stopped.tokens().length).isGreaterThanOrEqualTo(5);
        assertThat(got.get("min-tokens-stop-ids").get("result").get("choices").get(0).get("finish_reason").asText()).isEqualTo("stop");
        assertThat(got.get("min-tokens-stop-ids").get("result").get("usage").get("completion_tokens").asInt()).isEqualTo(stopped.tokens().length);

        // echo: the prompt's text, then the completion
        String echoed = PROMPT + reference.generate(PROMPT, greedy(6, true, List.of(), 0, 0, 1, Map.of(), 0, List.of(), true, false)).text();
        assertThat(texts(got.get("echo"))).containsExactly(echoed);
        assertThat(texts(got.get("echo-stream"))).containsExactly(echoed);

        // the model card as vLLM's: root, parent, max_model_len, through the client's models.list and retrieve
        JsonNode card = got.get("models").get("result").get("data").get(0);
        assertThat(card.get("id").asText()).isEqualTo("stories260K");
        assertThat(card.get("root").asText()).isEqualTo("stories260K");
        assertThat(card.get("parent").isNull()).isTrue();
        assertThat(card.get("max_model_len").asInt()).isEqualTo(512);
        assertThat(got.get("models").get("result").get("retrieved").get("max_model_len").asInt()).isEqualTo(512);

        refused(got.get("suffix"), "suffix", "fill-in-the-middle");
        refused(got.get("n-17"), "n", "between 1 and 16");
        refused(got.get("best-of-below-n"), "best_of", "between n");
        refused(got.get("presence-3"), "presence_penalty", "between -2 and 2");
        refused(got.get("repetition-0"), "repetition_penalty", "greater than 0");
        refused(got.get("bias-key"), "logit_bias", "token ids");
        refused(got.get("bias-vocab"), "logit_bias", "outside the vocabulary");
        refused(got.get("bias-101"), "logit_bias", "between -100 and 100");
        refused(got.get("min-tokens-over-max"), "min_tokens", "at most max_tokens");
        refused(got.get("stop-ids-vocab"), "stop_token_ids", "outside the vocabulary");
        // echo with logprobs: the prompt's tokens first (the first one's logprob null), then the completion's; whole and streamed alike
        JsonNode lp = got.get("echo-logprobs").get("result").get("choices").get(0).get("logprobs");
        int[] promptIds = tok.encode(PROMPT);
        assertThat(lp.get("tokens")).hasSize(promptIds.length + 4);
        assertThat(lp.get("token_logprobs").get(0).isNull()).isTrue();
        for (int i = 1; i < lp.get("token_logprobs").size(); i++) assertThat(lp.get("token_logprobs").get(i).asDouble()).as("logprob %d", i).isLessThanOrEqualTo(0);
        StringBuilder joined = new StringBuilder();
        for (JsonNode t : lp.get("tokens")) joined.append(t.asText());
        assertThat(joined.toString()).isEqualTo(texts(got.get("echo-logprobs")).getFirst());
        assertThat(lp.get("text_offset").get(0).asInt()).isZero();
        assertThat(texts(got.get("echo-logprobs")).getFirst()).startsWith(PROMPT);
        assertThat(texts(got.get("echo-logprobs-stream"))).isEqualTo(texts(got.get("echo-logprobs")));
        int longPrompt = tok.encode(LONG_PROMPT).length;
        assertThat(longPrompt).isGreaterThan(48);
        JsonNode first = got.get("echo-logprobs-long-1").get("result").get("choices").get(0).get("logprobs");
        JsonNode second = got.get("echo-logprobs-long-2").get("result").get("choices").get(0).get("logprobs");
        assertThat(first.get("tokens")).hasSize(longPrompt + 2);
        assertThat(second.get("token_logprobs")).isEqualTo(first.get("token_logprobs"));

        checkPromptLogprobs(got, promptThenGreedy, promptIds, lp);
    }

    /** vLLM's prompt_logprobs: [null, {"id": {logprob, rank, decoded_token}, ...}], the prompt token first, then the k most likely. */
    private void checkPromptLogprobs(Map<String, JsonNode> got, int[] promptThenGreedy, int[] promptIds, JsonNode echoLogprobs) {
        var tok = reference.tokenizer();
        JsonNode choices = got.get("prompt-logprobs").get("result").get("choices");
        assertThat(choices).as(got.get("prompt-logprobs").toString()).hasSize(2);
        JsonNode pl = choices.get(0).get("prompt_logprobs");
        assertThat(choices.get(1).get("prompt_logprobs")).as("every choice has the prompt's").isEqualTo(pl);
        assertThat(choices.get(0).get("logprobs").isNull()).isTrue();
        assertThat(pl).hasSize(promptThenGreedy.length);
        assertThat(pl.get(0).isNull()).isTrue();
        for (int i = 1; i < pl.size(); i++) {
            JsonNode position = pl.get(i);
            String own = Integer.toString(promptThenGreedy[i]);
            // (the server sends the prompt token first; JavaScript objects order integer keys numerically)
            assertThat(position.has(own)).as("position %d has the prompt token", i).isTrue();
            assertThat(position.size()).as("position %d: the token and up to 2 alternatives", i).isBetween(2, 3);
            JsonNode mine = position.get(own);
            assertThat(mine.get("logprob").asDouble()).isLessThanOrEqualTo(0);
            assertThat(mine.get("rank").asInt()).isGreaterThanOrEqualTo(1);
            double best = Double.NEGATIVE_INFINITY;
            for (JsonNode e : position) {
                assertThat(e.get("rank").asInt()).isBetween(1, 2 + (e == mine ? tok.vocabSize() : 0));
                if (e.get("rank").asInt() == 1) best = Math.max(best, e.get("logprob").asDouble());
            }
            assertThat(best).as("position %d has a rank-1 entry at least as likely as the prompt token", i).isGreaterThanOrEqualTo(mine.get("logprob").asDouble());
            // the greedy continuation's tokens are the most likely ones where they were generated
            if (i >= promptIds.length) assertThat(mine.get("rank").asInt()).as("greedy token at %d", i).isEqualTo(1);
        }
        // with echo and logprobs 1 as well: the same numbers, echo showing 1 alternative and prompt_logprobs 3
        JsonNode both = got.get("prompt-logprobs-echo").get("result").get("choices").get(0);
        JsonNode echoPart = both.get("logprobs");
        assertThat(echoPart.get("token_logprobs")).isEqualTo(echoLogprobs.get("token_logprobs"));
        assertThat(echoPart.get("top_logprobs")).isEqualTo(echoLogprobs.get("top_logprobs"));
        JsonNode pe = both.get("prompt_logprobs");
        assertThat(pe).hasSize(promptIds.length);
        for (int i = 1; i < promptIds.length; i++) {
            assertThat(pe.get(i).get(Integer.toString(promptIds[i])).get("logprob").asDouble()).isEqualTo(echoLogprobs.get("token_logprobs").get(i).asDouble());
            assertThat(pe.get(i).size()).isBetween(3, 4);
            assertThat(pe.get(i).get(Integer.toString(promptIds[i])).get("decoded_token").asText()).isEqualTo(echoPart.get("tokens").get(i).asText());
        }
        // chat: once for the response, the choices have none
        JsonNode chat = got.get("prompt-logprobs-chat").get("result");
        assertThat(chat.get("prompt_logprobs").get(0).isNull()).isTrue();
        assertThat(chat.get("prompt_logprobs").size()).isEqualTo(chat.get("usage").get("prompt_tokens").asInt());
        assertThat(chat.get("prompt_logprobs").get(1).size()).as("k = 0: the prompt token alone").isEqualTo(1);
        assertThat(chat.get("choices").get(0).get("prompt_logprobs").isNull()).isTrue();
        refused(got.get("prompt-logprobs-stream"), "prompt_logprobs", "stream");
        refused(got.get("prompt-logprobs-21"), "prompt_logprobs", "between 0 and 20");
    }

    /** n choices are n sequences in the request metrics: each with its TTFT, end, tokens and finish reason; the prompt counted once. */
    @Test
    void metricsCountEveryChoiceOfN() {
        Http http = new Http(server.httpPort());
        int promptTokens = reference.tokenizer().encode(PROMPT).length;
        String before = http.get("/metrics").body();
        Http.Reply r = http.post("/v1/completions", body("prompt", PROMPT, "n", 3, "max_tokens", 5, "ignore_eos", true, "temperature", 1, "seed", 3));
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(r.json().get("usage").get("completion_tokens").asInt()).isEqualTo(15);
        String after = http.get("/metrics").body();
        assertThat(metric(after, "quantflow_request_success_total", "finished_reason=\"length\"") - metric(before, "quantflow_request_success_total", "finished_reason=\"length\""))
                .isEqualTo(3);
        for (String perChoice : List.of("quantflow_time_to_first_token_seconds_count", "quantflow_e2e_request_latency_seconds_count",
                "quantflow_request_decode_time_seconds_count", "quantflow_request_prefill_time_seconds_count", "quantflow_request_generation_tokens_count"))
            assertThat(metric(after, perChoice, "") - metric(before, perChoice, "")).as(perChoice).isEqualTo(3);
        assertThat(metric(after, "quantflow_request_generation_tokens_sum", "") - metric(before, "quantflow_request_generation_tokens_sum", "")).isEqualTo(15);
        assertThat(metric(after, "quantflow_generation_tokens_total", "") - metric(before, "quantflow_generation_tokens_total", "")).isEqualTo(15);
        // 4 gaps in each choice's 5 tokens
        assertThat(metric(after, "quantflow_inter_token_latency_seconds_count", "") - metric(before, "quantflow_inter_token_latency_seconds_count", "")).isEqualTo(12);
        assertThat(metric(after, "quantflow_request_queue_time_seconds_count", "") - metric(before, "quantflow_request_queue_time_seconds_count", "")).isEqualTo(1);
        assertThat(metric(after, "quantflow_prompt_tokens_total", "") - metric(before, "quantflow_prompt_tokens_total", "")).isEqualTo(promptTokens);
    }

    /** The sum of a metric's series whose labels contain labelPart (Prometheus text format). */
    private static double metric(String scrape, String name, String labelPart) {
        return scrape.lines().filter(l -> l.startsWith(name + "{") && l.contains(labelPart))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    @Test
    void versionTokenizeDetokenizeAndMetricsAsVllmShapesThem() {
        Http http = new Http(server.httpPort());
        assertThat(http.get("/version").json().get("version").asText()).isEqualTo(ServerVersion.VERSION);
        var tok = reference.tokenizer();
        int[] ids = tok.encode(PROMPT);
        JsonNode t = http.post("/tokenize", Map.of("model", "stories260K", "prompt", PROMPT, "return_token_strs", true)).json();
        assertThat(t.get("count").asInt()).isEqualTo(ids.length);
        assertThat(t.get("max_model_len").asInt()).isEqualTo(512);
        assertThat(t.get("tokens")).hasSize(ids.length);
        for (int i = 0; i < ids.length; i++) {
            assertThat(t.get("tokens").get(i).asInt()).isEqualTo(ids[i]);
            assertThat(t.get("token_strs").get(i).asText()).isEqualTo(tok.tokenText(ids[i]));
        }
        JsonNode plainTokens = http.post("/tokenize", Map.of("prompt", PROMPT, "add_special_tokens", false)).json();
        assertThat(plainTokens.get("count").asInt()).isEqualTo(tok.encode(PROMPT, false).length);
        assertThat(plainTokens.get("token_strs").isNull()).isTrue();
        // messages: the chat prompt as a chat completion gets it (stories260K has no template: the plain rendering, with BOS)
        List<Map<String, String>> messages = List.of(Map.of("role", "user", "content", "hi"));
        JsonNode chat = http.post("/tokenize", Map.of("messages", messages)).json();
        assertThat(chat.get("tokens").get(0).asInt()).isEqualTo(tok.bosTokenId().orElseThrow());
        assertThat(chat.get("count").asInt()).isEqualTo(tok.encode("user: hi\nassistant:").length);
        assertThat(chat.get("count").asInt()).isEqualTo(http.post("/v1/chat/completions", body("messages", messages, "max_tokens", 1)).json()
                .get("usage").get("prompt_tokens").asInt());
        Http.Reply both = http.post("/tokenize", Map.of("messages", messages, "prompt", PROMPT));
        assertThat(both.status()).isEqualTo(400);
        assertThat(both.json().get("error").get("param").asText()).isEqualTo("prompt");
        assertThat(http.post("/detokenize", Map.of("model", "stories260K", "tokens", Arrays.stream(ids).boxed().toList())).json().get("prompt").asText())
                .isEqualTo(tok.decode(ids));
        http.post("/v1/completions", body("prompt", PROMPT, "max_tokens", 2));
        String metrics = http.get("/metrics").body();
        assertThat(metrics).contains("quantflow_generation_tokens_total{model_name=\"stories260K\"}");
        assertThat(metrics.lines().filter(l -> l.startsWith("quantflow_")).toList()).allSatisfy(l -> assertThat(l).contains("model_name=\"stories260K\""));
    }

    @Test
    void grpcCarriesNAndThePenalties() throws Exception {
        List<GenerateResponse> rs = grpc.generate(GenerateRequest.newBuilder().setText(PROMPT).setMaxTokens(10).setTemperature(1).setSeed(11)
                        .setN(3).setIgnoreEos(true).build())
                .runWith(Sink.seq(), clientSystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        Map<Integer, StringBuilder> texts = new TreeMap<>();
        Map<Integer, Integer> finished = new HashMap<>();
        for (GenerateResponse r : rs) {
            if (r.hasDelta()) texts.computeIfAbsent(r.getDelta().getIndex(), i -> new StringBuilder()).append(r.getDelta().getText());
            if (r.hasFinished()) finished.put(r.getFinished().getIndex(), r.getFinished().getUsage().getCompletionTokens());
        }
        assertThat(texts.keySet()).containsExactly(0, 1, 2);
        assertThat(finished).containsOnlyKeys(0, 1, 2).containsValues(10);
        assertThat(rs.getLast().hasFinished()).isTrue();
        List<GenerateResponse> single = grpc.generate(GenerateRequest.newBuilder().setText(PROMPT).setMaxTokens(10).setTemperature(1).setSeed(12)
                        .setIgnoreEos(true).build())
                .runWith(Sink.seq(), clientSystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        StringBuilder seed12 = new StringBuilder();
        for (GenerateResponse r : single) if (r.hasDelta()) seed12.append(r.getDelta().getText());
        assertThat(texts.get(1).toString()).as("choice 1 samples with seed + 1").isEqualTo(seed12.toString());

        List<GenerateResponse> penalized = grpc.generate(GenerateRequest.newBuilder().setText(PROMPT).setMaxTokens(24).setTemperature(0)
                        .setPresencePenalty(1.5f).setFrequencyPenalty(1.0f).setRepetitionPenalty(1.2f).setIgnoreEos(true)
                        .setMinTokens(3).build())
                .runWith(Sink.seq(), clientSystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        StringBuilder text = new StringBuilder();
        for (GenerateResponse r : penalized) if (r.hasDelta()) text.append(r.getDelta().getText());
        assertThat(text.toString()).isEqualTo(reference.generate(PROMPT, greedy(24, true, List.of(), 1.5f, 1.0f, 1.2f, Map.of(), 3, List.of(), true, false)).text());

        // prompt_logprobs: the HTTP answer's numbers, each choice's stream opening with them
        List<GenerateResponse> scored = grpc.generate(GenerateRequest.newBuilder().setText(PROMPT).setMaxTokens(2).setTemperature(0).setPromptLogprobs(2)
                        .setN(2).build())
                .runWith(Sink.seq(), clientSystem).toCompletableFuture().get(60, TimeUnit.SECONDS);
        JsonNode http = new Http(server.httpPort()).post("/v1/completions", body("prompt", PROMPT, "max_tokens", 2, "temperature", 0, "prompt_logprobs", 2))
                .json().get("choices").get(0).get("prompt_logprobs");
        List<GenerateResponse> opening = scored.stream().filter(GenerateResponse::hasPromptLogprobs).toList();
        assertThat(opening).hasSize(2);
        assertThat(opening.stream().map(m -> m.getPromptLogprobs().getIndex())).containsExactlyInAnyOrder(0, 1);
        var pl = opening.getFirst().getPromptLogprobs();
        assertThat(pl.getLogprobsCount()).isEqualTo(http.size() - 1);
        for (int i = 0; i < pl.getLogprobsCount(); i++) {
            var lp = pl.getLogprobs(i);
            JsonNode h = http.get(i + 1).get(Integer.toString(lp.getTokenId()));
            assertThat(lp.getLogprob()).isEqualTo((float) h.get("logprob").asDouble());
            assertThat(lp.getRank()).isEqualTo(h.get("rank").asInt()).isPositive();
            assertThat(lp.getTopCount()).isEqualTo(2);
        }
        for (int c = 0; c < 2; c++) {
            int choice = c;
            int first = scored.indexOf(opening.stream().filter(m -> m.getPromptLogprobs().getIndex() == choice).findFirst().orElseThrow());
            assertThat(scored.subList(0, first)).noneMatch(m -> m.hasDelta() && m.getDelta().getIndex() == choice);
        }

        for (GenerateRequest bad : List.of(GenerateRequest.newBuilder().setText(PROMPT).setN(0).build(),
                GenerateRequest.newBuilder().setText(PROMPT).setPromptLogprobs(21).build(),
                GenerateRequest.newBuilder().setText(PROMPT).setPresencePenalty(-2.5f).build(),
                GenerateRequest.newBuilder().setText(PROMPT).putLogitBias(100000, 1f).build(),
                GenerateRequest.newBuilder().setText(PROMPT).addStopTokenIds(-1).build())) {
            try {
                grpc.generate(bad).runWith(Sink.seq(), clientSystem).toCompletableFuture().get(30, TimeUnit.SECONDS);
                throw new AssertionError("accepted " + bad);
            } catch (ExecutionException e) {
                Status s = ((StatusRuntimeException) e.getCause()).getStatus();
                assertThat(s.getCode()).as(s.toString()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(s.getDescription()).matches("(n|prompt_logprobs|presence_penalty|logit_bias|stop_token_ids): .*");
            }
        }
    }
}
