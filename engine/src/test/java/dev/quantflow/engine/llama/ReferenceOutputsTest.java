package dev.quantflow.engine.llama;

import static dev.quantflow.engine.llama.StageSteps.forward;
import static dev.quantflow.engine.llama.StageSteps.ints;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.sample.Sampler;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fp32 forward pass against independent implementations (llama2.c run.c, PyTorch, numpy). */
class ReferenceOutputsTest {

    /** Greedy continuation of prompt ids, one token per step after a batched prefill. */
    static int[] greedy(Path modelDir, int[] prompt, int n) {
        LlamaConfig c = LlamaConfig.load(modelDir);
        try (WeightStore w = WeightStore.open(modelDir)) {
            LlamaStage m = new LlamaStage(c, w, 0, c.numLayers(), LinearFactory.DENSE);
            F32KvCache cache = new F32KvCache(c.numLayers(), 64, 16, c.numHeads(), c.numKvHeads(), c.headDim());
            int[] table = new BlockAllocator(64).ensure(new int[0], prompt.length + n, 16);
            int[] out = new int[n];
            float[] logits = forward(m, cache, table, prompt, 0);
            for (int i = 0; i < n; i++) {
                out[i] = Sampler.argmax(logits, 0, c.vocabSize());
                logits = forward(m, cache, table, new int[] {out[i]}, prompt.length + i);
            }
            return out;
        }
    }

    @Test
    void stories260kGreedyMatchesLlama2c() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(SharedData.path("reference/stories260K-greedy.json").toFile());
        for (JsonNode c : ref.path("cases")) {
            int[] expected = ints(c.path("generated_tokens"));
            int[] got = greedy(SharedData.path("models/stories260K"), ints(c.path("prompt_tokens")), expected.length);
            assertThat(got).as("fp32 '%s' (%d tokens)", c.path("prompt").asText(), expected.length).containsExactly(expected);
            if (expected.length <= 64) {
                int[] bf16 = greedy(SharedData.path("models/stories260K-bf16"), ints(c.path("prompt_tokens")), expected.length);
                assertThat(bf16).as("bf16 '%s'", c.path("prompt").asText()).containsExactly(expected);
            }
        }
    }

    @Test
    void sotu6mGreedyMatchesPyTorch() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(SharedData.path("reference/sotu6M-greedy.json").toFile());
        for (JsonNode c : ref.path("cases")) {
            int[] expected = ints(c.path("generated_tokens"));
            int[] got = greedy(SharedData.path("models/sotu6M"), ints(c.path("prompt_tokens")), expected.length);
            assertThat(got).as("'%s'", c.path("prompt").asText()).containsExactly(expected);
        }
    }

    @Test
    void stories260kTop5LogitsMatchFloat64Reference() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(SharedData.path("reference/top5_logits_stories260K.json").toFile());
        Path dir = SharedData.path("models/stories260K");
        LlamaConfig c = LlamaConfig.load(dir);
        try (WeightStore w = WeightStore.open(dir)) {
            LlamaStage m = new LlamaStage(c, w, 0, c.numLayers(), LinearFactory.DENSE);
            F32KvCache cache = new F32KvCache(c.numLayers(), 4, 16, c.numHeads(), c.numKvHeads(), c.headDim());
            int[] table = new BlockAllocator(4).ensure(new int[0], 16, 16);
            List<Integer> seq = new ArrayList<>();
            for (JsonNode t : ref.path("prompt_tokens")) seq.add(t.asInt());
            float[] logits = forward(m, cache, table, seq.stream().mapToInt(i -> i).toArray(), 0);
            int checked = 0;
            for (JsonNode p : ref.path("positions")) {
                int position = p.path("position").asInt();
                if (position != seq.size() - 1) {
                    logits = forward(m, cache, table, new int[] {p.path("input_token").asInt()}, position);
                    seq.add(p.path("input_token").asInt());
                }
                for (JsonNode t : p.path("top5")) {
                    double expected = t.path("logit").asDouble();
                    assertThat((double) logits[t.path("id").asInt()]).as("position %d id %d", position, t.path("id").asInt())
                            .isCloseTo(expected, within(Math.abs(expected) * 1e-4));
                    checked++;
                }
                assertThat(Sampler.argmax(logits, 0, c.vocabSize())).isEqualTo(p.path("generated_token").asInt());
            }
            assertThat(checked).isEqualTo(15);
        }
    }
}
