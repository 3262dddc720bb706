package dev.quantflow.engine.llama;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * A sequence's logits are bit-identical whether its rows run alone or mixed into a batch with
 * another sequence's prefill or decode rows (what lets the scheduler batch freely).
 */
class BatchInvarianceTest {
    static final int[] A = {1, 401, 262, 356, 275, 402, 378}, B = {1, 290, 440, 299, 311};

    record Run(float[] prefillA, float[] prefillB, float[] decodeA, float[] decodeB) {}

    static Run alone(LlamaStage m, LlamaConfig c) {
        float[] pa, pb, da, db;
        F32KvCache cache = new F32KvCache(c.numLayers(), 8, 16, c.numHeads(), c.numKvHeads(), c.headDim());
        BlockAllocator blocks = new BlockAllocator(8);
        int[] ta = blocks.ensure(new int[0], 16, 16), tb = blocks.ensure(new int[0], 16, 16);
        pa = step(m, cache, new int[][] {A}, new int[] {0}, new int[][] {ta})[0];
        pb = step(m, cache, new int[][] {B}, new int[] {0}, new int[][] {tb})[0];
        da = step(m, cache, new int[][] {{7}}, new int[] {A.length}, new int[][] {ta})[0];
        db = step(m, cache, new int[][] {{9}}, new int[] {B.length}, new int[][] {tb})[0];
        return new Run(pa, pb, da, db);
    }

    static Run together(LlamaStage m, LlamaConfig c) {
        F32KvCache cache = new F32KvCache(c.numLayers(), 8, 16, c.numHeads(), c.numKvHeads(), c.headDim());
        BlockAllocator blocks = new BlockAllocator(8);
        int[] tb = blocks.ensure(new int[0], 16, 16), ta = blocks.ensure(new int[0], 16, 16);
        float[][] p = step(m, cache, new int[][] {B, A}, new int[] {0, 0}, new int[][] {tb, ta});
        float[][] d = step(m, cache, new int[][] {{7}, {9}}, new int[] {A.length, B.length}, new int[][] {ta, tb});
        return new Run(p[1], p[0], d[0], d[1]);
    }

    /** One batch holding each sequence's tokens at its start position; the logits of each one's last row. */
    static float[][] step(LlamaStage m, F32KvCache cache, int[][] seqs, int[] start, int[][] tables) {
        int rows = Arrays.stream(seqs).mapToInt(s -> s.length).sum();
        int[] tokens = new int[rows], pos = new int[rows], last = new int[seqs.length];
        int[][] rowTables = new int[rows][];
        int r = 0;
        for (int s = 0; s < seqs.length; s++) {
            for (int i = 0; i < seqs[s].length; i++, r++) {
                tokens[r] = seqs[s][i];
                pos[r] = start[s] + i;
                rowTables[r] = tables[s];
            }
            last[s] = r - 1;
        }
        float[] logits = m.forward(null, new BatchRows(tokens, pos, rowTables), last, cache);
        int v = m.config().vocabSize();
        float[][] out = new float[seqs.length][];
        for (int s = 0; s < seqs.length; s++) out[s] = Arrays.copyOfRange(logits, s * v, (s + 1) * v);
        return out;
    }

    static void check(Path dir) {
        LlamaConfig c = LlamaConfig.load(dir);
        try (WeightStore w = WeightStore.open(dir)) {
            LlamaStage m = new LlamaStage(c, w, 0, c.numLayers(), LinearFactory.DENSE);
            for (int trial = 0; trial < 3; trial++) {   // again once the JIT has compiled more of it
                Run one = alone(m, c), both = together(m, c);
                assertThat(both.prefillA()).as("prefill A").containsExactly(one.prefillA());
                assertThat(both.prefillB()).as("prefill B").containsExactly(one.prefillB());
                assertThat(both.decodeA()).as("decode A").containsExactly(one.decodeA());
                assertThat(both.decodeB()).as("decode B").containsExactly(one.decodeB());
            }
        }
    }

    @Test
    void stories260kF32() {
        check(SharedData.path("models/stories260K"));
    }

    @Test
    void stories260kBf16() {
        check(SharedData.path("models/stories260K-bf16"));
    }

    @Test
    void sotu6m() {
        check(SharedData.path("models/sotu6M"));
    }
}
