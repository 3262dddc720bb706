package dev.quantflow.gpu.stage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.CpuStage;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.gpu.backend.CudaBackend;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * On a card: the whole decoder (DecoderForward over CudaDecoderOps) against the engine on the CPU
 * (DecoderForward over CpuDecoderOps), on the real models, for a step that mixes a prefill chunk
 * of one sequence with decode rows of another, then a decode step over the cached positions. The
 * CPU is the reference; fp32 accumulation bounds 1e-3 relative on the logits. Skipped without a card.
 */
class CudaStageAgainstEngineTest {
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"models/stories260K,fp32", "models/sotu6M,fp32", "models/sotu6M,bf16"})
    void theCardsLogitsAreTheEnginesOnTheRealModels(String model, String scheme) {
        CudaBackend backend = new CudaBackend();
        assumeTrue(backend.unavailableReason().isEmpty(), "no usable CUDA card");
        Path dir = SharedData.path(model);
        LlamaConfig c = LlamaConfig.load(dir);
        int blocks = 16, blockSize = 16;
        try (WeightStore w = WeightStore.open(dir)) {
            LinearFactory engine = QuantizedModels.atLoad(c, w, scheme);
            StageCompute cpu = new CpuStage(new LlamaStage(c, w, 0, c.numLayers(), engine),
                    new F32KvCache(c.numLayers(), blocks, blockSize, c.numHeads(), c.numKvHeads(), c.headDim()));
            StageCompute card = backend.stage("cuda:0", QuantPlan.parse(scheme, List.of()), engine, c, w,
                    new StageLayout(0, c.numLayers(), KvFormat.F32, blocks, blockSize, 64)).orElseThrow();
            try {
                Random rnd = new Random(7);
                BlockAllocator alloc = new BlockAllocator(blocks);
                int[] a = alloc.ensure(new int[0], 40, blockSize), b = alloc.ensure(new int[0], 40, blockSize);
                // step 1: sequence a's prompt of 23 tokens and sequence b's first 5 tokens
                int[] tokens = new int[28], pos = new int[28];
                int[][] tables = new int[28][];
                for (int r = 0; r < 28; r++) {
                    tokens[r] = 1 + rnd.nextInt(c.vocabSize() - 1);
                    pos[r] = r < 23 ? r : r - 23;
                    tables[r] = r < 23 ? a : b;
                }
                compare(cpu, card, new BatchRows(tokens, pos, tables), new int[] {22, 27}, c.vocabSize());
                // step 2: one decode row for each, attending to what step 1 cached
                compare(cpu, card, new BatchRows(new int[] {5, 9}, new int[] {23, 5}, new int[][] {a, b}), new int[] {0, 1}, c.vocabSize());
            } finally {
                card.close();
            }
        }
    }

    private static void compare(StageCompute cpu, StageCompute card, BatchRows rows, int[] selected, int vocab) {
        float[] expected = cpu.forward(new float[0], rows, selected);
        float[] actual = card.forward(new float[0], rows, selected);
        assertThat(actual).hasSize(selected.length * vocab);
        double num = 0, den = 0;
        for (int i = 0; i < expected.length; i++) {
            num += (actual[i] - (double) expected[i]) * (actual[i] - (double) expected[i]);
            den += (double) expected[i] * expected[i];
        }
        assertThat(Math.sqrt(num / den)).as("relative error of the logits").isLessThanOrEqualTo(1e-3);   // NaN fails
    }
}
