package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.engine.SharedData;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A request's greedy output never depends on what else is batched with it, for every scheme that
 * `serve` builds at load and for the int8 KV cache: 64 concurrent requests (streamed and whole,
 * prompts of different lengths, so prefill chunks and decode rows share steps) each equal the
 * same request run alone on the same server; and so does a request with any of the sampling
 * parameters (seeded sampling included).
 */
class ServedSchemesBatchInvarianceTest {
    private static final Path MODEL = SharedData.path("models/stories260K");
    private static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Lily and Ben went to the park to play with a ball",
            "One day", "Tom had a red ball", "The sun was", "There was a big tree in the garden. A bird lived in it and", "Mom said",
            "A", "The cat and the dog were friends. Every morning they");
    private static final int CONCURRENT = 64;

    @ParameterizedTest(name = "{0} kv={1}")
    @CsvSource({"fp32,f32", "bf16,f32", "w8a16,f32", "w8a8-dynamic,f32", "llm-int8,f32", "w4a16-rtn,f32", "fp32,int8", "fp8,f32", "fp8-w8a8,f32", "nf4,f32", "fp4,f32"})
    void concurrentGreedyOutputsEqualTheSameRequestAlone(String scheme, String kv) throws Exception {
        PipelineEngine engine = PipelineEngine.start(EngineConfig.builder(MODEL).maxSequences(CONCURRENT).quant(scheme).kvFormat(ServeCommand.kvCaches(kv)).build());
        try (QuantflowServer server = TestServers.start(engine, Map.of())) {
            Http http = new Http(server.httpPort());
            Map<Integer, String> alone = new LinkedHashMap<>();
            for (int i = 0; i < CONCURRENT; i++) alone.put(i, completion(http, i, false));
            ExecutorService pool = Executors.newFixedThreadPool(CONCURRENT);
            try {
                List<Future<String>> together = new ArrayList<>();
                for (int i = 0; i < CONCURRENT; i++) {
                    int id = i;
                    together.add(pool.submit(() -> completion(http, id, id % 2 == 0)));
                }
                int differ = 0;
                List<String> examples = new ArrayList<>();
                for (int i = 0; i < CONCURRENT; i++) {
                    String t = together.get(i).get(180, TimeUnit.SECONDS);
                    if (!t.equals(alone.get(i))) {
                        differ++;
                        if (examples.size() < 3) examples.add(request(i) + ": alone " + alone.get(i) + " | batched " + t);
                    }
                }
                assertThat(differ).as("%s kv=%s: outputs that differ from the request alone, e.g. %s", scheme, kv, examples).isZero();
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /**
     * The same with every sampling parameter in play, applied per sequence: penalties, logit_bias,
     * min_tokens with stop_token_ids, seeded sampling (top_p, min_p, top_k), and n = 2 / best_of 3.
     * A seeded request's output is the same whatever else runs.
     */
    @ParameterizedTest(name = "{0} kv={1}")
    @CsvSource({"fp32,f32"})
    void concurrentRequestsWithSamplingParametersEqualTheSameRequestAlone(String scheme, String kv) throws Exception {
        PipelineEngine engine = PipelineEngine.start(EngineConfig.builder(MODEL).maxSequences(CONCURRENT).quant(scheme).kvFormat(ServeCommand.kvCaches(kv)).build());
        try (QuantflowServer server = TestServers.start(engine, Map.of())) {
            Http http = new Http(server.httpPort());
            Map<Integer, String> alone = new LinkedHashMap<>();
            for (int i = 0; i < CONCURRENT; i++) alone.put(i, completion(http, sampled(i), false));
            ExecutorService pool = Executors.newFixedThreadPool(CONCURRENT);
            try {
                List<Future<String>> together = new ArrayList<>();
                for (int i = 0; i < CONCURRENT; i++) {
                    int id = i;
                    together.add(pool.submit(() -> completion(http, sampled(id), id % 2 == 0 && !sampled(id).containsKey("best_of"))));
                }
                List<String> examples = new ArrayList<>();
                int differ = 0;
                for (int i = 0; i < CONCURRENT; i++) {
                    String t = together.get(i).get(180, TimeUnit.SECONDS);
                    if (!t.equals(alone.get(i))) {
                        differ++;
                        if (examples.size() < 3) examples.add(sampled(i) + ": alone " + alone.get(i) + " | batched " + t);
                    }
                }
                assertThat(differ).as("outputs that differ from the request alone, e.g. %s", examples).isZero();
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /** Request i of the sampled set: one of six parameter mixes, seeded by i. */
    private static Map<String, Object> sampled(int i) {
        Map<String, Object> m = new LinkedHashMap<>(request(i));
        m.put("seed", 1000 + i);
        switch (i % 6) {
            case 0 -> { m.put("presence_penalty", 1.2); m.put("frequency_penalty", 0.7); }
            case 1 -> { m.put("repetition_penalty", 1.4); m.put("logit_bias", Map.of("50", 5, "100", -100)); }
            case 2 -> { m.put("temperature", 0.9); m.put("top_p", 0.9); m.put("min_p", 0.05); }
            case 3 -> { m.put("temperature", 1.0); m.put("top_k", 20); m.put("n", 2); m.put("frequency_penalty", 0.5); }
            case 4 -> { m.put("min_tokens", 8); m.put("stop_token_ids", List.of(13, 29)); m.put("ignore_eos", false); }
            default -> { m.put("temperature", 0.8); m.put("n", 2); m.put("best_of", 3); }
        }
        return m;
    }

    /** Request i: a prompt and a token budget that vary with i, so the batch mixes lengths. */
    private static Map<String, Object> request(int i) {
        return Map.of("model", "stories260K", "prompt", PROMPTS.get(i % PROMPTS.size()), "max_tokens", 24 + (i * 7) % 57, "temperature", 0,
                "ignore_eos", true);
    }

    private static String completion(Http http, int i, boolean stream) {
        return completion(http, request(i), stream);
    }

    /** Every choice's text, in index order, joined with " | ". */
    private static String completion(Http http, Map<String, Object> request, boolean stream) {
        if (!stream) {
            Http.Reply r = http.post("/v1/completions", request);
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            List<String> texts = new ArrayList<>();
            for (var c : r.json().get("choices")) texts.add(c.get("text").asText());
            return String.join(" | ", texts);
        }
        Map<String, Object> body = new LinkedHashMap<>(request);
        body.put("stream", true);
        try (Http.SseStream s = http.stream("/v1/completions", body)) {
            assertThat(s.status()).isEqualTo(200);
            Map<Integer, StringBuilder> text = new TreeMap<>();
            for (String d : s.rest()) {
                if (d.equals("[DONE]")) continue;
                for (var c : Http.json(d).get("choices")) text.computeIfAbsent(c.get("index").asInt(), k -> new StringBuilder()).append(c.get("text").asText());
            }
            return String.join(" | ", text.values().stream().map(StringBuilder::toString).toList());
        }
    }
}
