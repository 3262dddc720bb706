package dev.quantflow.engine.llama;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.generate.Generator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.sample.SamplingParams;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The stage contract on the CPU: stages that each own the KV cache of their layers, run one after
 * the other, compute exactly what one LlamaStage over all layers computes.
 */
class StagePipelineTest {
    static final int[] PROMPT = {1, 401, 262, 356, 275, 402, 378};

    static List<StageCompute> split(LlamaModel m, int at, int blocks) {
        LlamaConfig c = m.config();
        return List.of(
                new CpuStage(m.stage(0, at, LinearFactory.DENSE), KvFormat.F32.create(at, blocks, KvCache.BLOCK_SIZE, c.numHeads(), c.numKvHeads(), c.headDim())),
                new CpuStage(m.stage(at, c.numLayers(), LinearFactory.DENSE),
                        KvFormat.F32.create(c.numLayers() - at, blocks, KvCache.BLOCK_SIZE, c.numHeads(), c.numKvHeads(), c.headDim())));
    }

    @Test
    void twoStagesGiveBitIdenticalLogitsToOneStage() {
        try (LlamaModel m = LlamaModel.open(SharedData.path("models/stories260K"))) {
            LlamaConfig c = m.config();
            int n = PROMPT.length;
            int[] pos = new int[n], last = {n - 3, n - 1};
            int[][] tables = new int[n][];
            for (int i = 0; i < n; i++) { pos[i] = i; tables[i] = new int[] {0}; }
            BatchRows rows = new BatchRows(PROMPT, pos, tables);

            StageCompute whole = new CpuStage(m.full(LinearFactory.DENSE), new F32KvCache(c.numLayers(), 1, KvCache.BLOCK_SIZE, c.numHeads(), c.numKvHeads(), c.headDim()));
            float[] expected = whole.forward(new float[0], rows, last);

            List<StageCompute> stages = split(m, 2, 1);
            assertThat(stages.get(0).hasHead()).isFalse();
            assertThat(stages.get(1).hasEmbedding()).isFalse();
            float[] hidden = stages.get(0).forward(new float[0], rows, last);
            assertThat(hidden).hasSize(n * c.hiddenSize());
            float[] logits = stages.get(1).forward(hidden, rows, last);
            assertThat(logits).hasSize(2 * c.vocabSize()).containsExactly(expected);
            assertThat(stages.get(0).kvCacheBytes() + stages.get(1).kvCacheBytes()).isEqualTo(whole.kvCacheBytes());
            assertThat(stages.get(0).weightBytes() + stages.get(1).weightBytes()).isEqualTo(whole.weightBytes()).isPositive();
        }
    }

    @Test
    void generatorOverStagesMatchesTheSingleStageGenerator() {
        try (LlamaModel m = LlamaModel.open(SharedData.path("models/stories260K"))) {
            GenerateOptions opts = new GenerateOptions(40, SamplingParams.GREEDY, true, List.of());
            int[] expected = new Generator(m.full(LinearFactory.DENSE), m.tokenizer()).generate(PROMPT, opts, (id, d) -> {}).tokens();
            int blocks = Generator.blocksNeeded(m.config(), PROMPT.length, 40);
            assertThat(blocks).isEqualTo((PROMPT.length + 40 + KvCache.BLOCK_SIZE - 1) / KvCache.BLOCK_SIZE);
            Generator pipeline = Generator.overStages(m.config(), split(m, 3, blocks), blocks, m.tokenizer());
            assertThat(pipeline.generate(PROMPT, opts, (id, d) -> {}).tokens()).hasSize(40).containsExactly(expected);
            // the stages' caches are reused from block 0 by the next generation
            assertThat(pipeline.generate(PROMPT, opts, (id, d) -> {}).tokens()).containsExactly(expected);
            assertThatThrownBy(() -> pipeline.generate(PROMPT, new GenerateOptions(200, SamplingParams.GREEDY, true, List.of()), (id, d) -> {}))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("KV tokens");
        }
    }

    @Test
    void overStagesNeedsConsecutiveStagesFromEmbeddingToHead() {
        try (LlamaModel m = LlamaModel.open(SharedData.path("models/stories260K"))) {
            List<StageCompute> stages = split(m, 2, 4);
            assertThatThrownBy(() -> Generator.overStages(m.config(), List.of(stages.get(0)), 4, m.tokenizer())).hasMessageContaining("lm_head");
            assertThatThrownBy(() -> Generator.overStages(m.config(), List.of(stages.get(0), stages.get(0), stages.get(1)), 4, m.tokenizer()))
                    .hasMessageContaining("consecutive");
        }
    }
}
