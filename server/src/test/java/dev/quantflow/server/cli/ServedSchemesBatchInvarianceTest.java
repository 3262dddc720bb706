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
 * same request run alone on the same server.
 */
class ServedSchemesBatchInvarianceTest {
    private static final Path MODEL = SharedData.path("models/stories260K");
    private static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Lily and Ben went to the park to play with a ball",
            "One day", "Tom had a red ball", "The sun was", "There was a big tree in the garden. A bird lived in it and", "Mom said",
            "A", "The cat and the dog were friends. Every morning they");
    private static final int CONCURRENT = 64;

    @ParameterizedTest(name = "{0} kv={1}")
    @CsvSource({"fp32,f32", "bf16,f32", "w8a16,f32", "w8a8-dynamic,f32", "llm-int8,f32", "w4a16-rtn,f32", "fp32,int8", "fp8,f32", "fp8-w8a8,f32", "nf4,f32"})
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

    /** Request i: a prompt and a token budget that vary with i, so the batch mixes lengths. */
    private static Map<String, Object> request(int i) {
        return Map.of("model", "stories260K", "prompt", PROMPTS.get(i % PROMPTS.size()), "max_tokens", 24 + (i * 7) % 57, "temperature", 0,
                "ignore_eos", true);
    }

    private static String completion(Http http, int i, boolean stream) {
        if (!stream) {
            Http.Reply r = http.post("/v1/completions", request(i));
            assertThat(r.status()).as(r.body()).isEqualTo(200);
            return r.json().get("choices").get(0).get("text").asText();
        }
        Map<String, Object> body = new LinkedHashMap<>(request(i));
        body.put("stream", true);
        try (Http.SseStream s = http.stream("/v1/completions", body)) {
            assertThat(s.status()).isEqualTo(200);
            StringBuilder text = new StringBuilder();
            for (String d : s.rest()) if (!d.equals("[DONE]")) text.append(Http.json(d).get("choices").get(0).get("text").asText());
            return text.toString();
        }
    }
}
