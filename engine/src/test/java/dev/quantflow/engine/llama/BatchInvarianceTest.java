package dev.quantflow.engine.llama;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.BlockAllocator;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.QuantizedModels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * A sequence's logits are bit-identical whether its rows run alone or mixed into a batch with
 * another sequence's prefill or decode rows (what lets the scheduler batch freely), for the
 * dense weights and for the weight-only quantized schemes whose one-row decode kernel and batched
 * panel tile sum in one order (w8a16, w4a16, nf4, fp4, fp8, fp8-w8a8; w4a16 with groups that split a
 * 32-column block runs the panel tile for one row too), and for
 * the integer-dot schemes (w8a8-dynamic, GGUF Q8_0), whose integer sums are exact in every path.
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
        check(dir, LinearFactory.DENSE);
    }

    static void check(Path dir, LinearFactory linears) {
        check(dir, w -> linears);
    }

    /** linears: the factory over the opened store (a GGUF file's linears are built on its own tensors). */
    static void check(Path dir, Function<WeightStore, LinearFactory> linears) {
        LlamaConfig c = LlamaConfig.load(dir);
        try (WeightStore w = WeightStore.open(dir)) {
            LlamaStage m = new LlamaStage(c, w, 0, c.numLayers(), linears.apply(w));
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


    @ParameterizedTest
    @ValueSource(strings = {"w8a16", "w4a16-rtn", "w4a16-rtn:group=32", "w4a16-rtn:group=48", "w4a16-rtn:sym=true", "nf4", "fp4", "fp8", "fp8-w8a8", "w8a8-dynamic", "w8a8-dynamic:group=32"})
    void aQuantizedRowsBitsDoNotDependOnItsBatch(String scheme) {
        LinearFactory f = QuantizedModels.calibrationFree(scheme);
        Random rnd = new Random(11);
        // shapes: several int8 chunks with a ragged tail and out % 8 leftover rows; the model
        // sizes of stories260K; fewer columns than a vector
        int[][] shapes = {{43, 2 * 2048 + 37}, {72, 64}, {172, 64}, {37, 5}, {64, 160}};
        for (int[] sh : shapes) {
            int out = sh[0], in = sh[1], n = 16;
            float[] w = new float[out * in], bias = new float[out], x = new float[n * in];
            for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian() * 0.05f;
            for (int i = 0; i < out; i++) bias[i] = (float) rnd.nextGaussian() * 0.1f;
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            Linear l = f.create("model.layers.0.mlp.up_proj", nativeF32(w, out, in), bias);
            float[][] alone = new float[n][];
            for (int r = 0; r < n; r++) alone[r] = forward(l, x, new int[] {r}, in, out)[0];
            int[][] batches = {{3, 9}, {9, 3}, {0, 15, 7}, {7, 0, 15}, permutation(rnd, n), permutation(rnd, n)};
            for (int[] b : batches) {
                float[][] got = forward(l, x, b, in, out);
                for (int i = 0; i < b.length; i++)
                    assertThat(got[i]).as("%s %dx%d row %d at %d of a batch of %d", scheme, out, in, b[i], i, b.length).containsExactly(alone[b[i]]);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"w8a16", "w4a16-rtn", "nf4", "fp4", "fp8", "fp8-w8a8", "w8a8-dynamic"})
    void quantizedStories260k(String scheme) {
        check(SharedData.path("models/stories260K"), QuantizedModels.calibrationFree(scheme));
        greedyTogetherAsAlone(SharedData.path("models/stories260K"), QuantizedModels.calibrationFree(scheme));
    }

    @ParameterizedTest
    @ValueSource(strings = {"w8a16", "w4a16-rtn", "nf4", "w8a8-dynamic"})
    void quantizedSotu6m(String scheme) {
        check(SharedData.path("models/sotu6M"), QuantizedModels.calibrationFree(scheme));
    }

    /** llama.cpp's own Q8_0 file, its linears as stored (Q8_0Linear: 2..16 rows in row tiles, more on the float scratch). */
    @Test
    void ggufQ8_0Sotu6m() {
        Path f = SharedData.path("models/sotu6M-gguf/sotu6M-Q8_0.gguf");
        Function<WeightStore, LinearFactory> stored = w -> QuantizedModels.atLoad(LlamaConfig.load(f), w, "fp32");
        check(f, stored);
        greedyTogetherAsAlone(f, stored);
    }

    /**
     * Three sequences decoded greedily together (one batch per step, a prefill in the first)
     * produce the tokens and last-step logits bits each produces alone.
     */
    static void greedyTogetherAsAlone(Path dir, LinearFactory linears) {
        greedyTogetherAsAlone(dir, w -> linears);
    }

    static void greedyTogetherAsAlone(Path dir, Function<WeightStore, LinearFactory> linears) {
        LlamaConfig c = LlamaConfig.load(dir);
        int[][] prompts = {A, B, {1, 365, 297, 261}};
        int steps = 12;
        try (WeightStore w = WeightStore.open(dir)) {
            LlamaStage m = new LlamaStage(c, w, 0, c.numLayers(), linears.apply(w));
            int[][] aloneTokens = new int[prompts.length][];
            float[][] aloneLogits = new float[prompts.length][];
            for (int s = 0; s < prompts.length; s++) {
                int[][] one = {prompts[s]};
                float[][] last = new float[1][];
                aloneTokens[s] = greedy(m, c, one, steps, last)[0];
                aloneLogits[s] = last[0];
            }
            float[][] last = new float[prompts.length][];
            int[][] together = greedy(m, c, prompts, steps, last);
            for (int s = 0; s < prompts.length; s++) {
                assertThat(together[s]).as("sequence %d tokens", s).containsExactly(aloneTokens[s]);
                assertThat(last[s]).as("sequence %d logits", s).containsExactly(aloneLogits[s]);
            }
        }
    }

    /** Greedy tokens of every prompt, all decoded in one batch per step; last gets each one's final logits. */
    static int[][] greedy(LlamaStage m, LlamaConfig c, int[][] prompts, int steps, float[][] last) {
        F32KvCache cache = new F32KvCache(c.numLayers(), 4 * prompts.length, 16, c.numHeads(), c.numKvHeads(), c.headDim());
        BlockAllocator blocks = new BlockAllocator(4 * prompts.length);
        int[][] tables = new int[prompts.length][], out = new int[prompts.length][steps];
        int[] start = new int[prompts.length];
        for (int s = 0; s < prompts.length; s++) tables[s] = blocks.ensure(new int[0], 64, 16);
        int[][] feed = prompts.clone();
        for (int t = 0; t < steps; t++) {
            float[][] logits = step(m, cache, feed, start, tables);
            feed = new int[prompts.length][];
            for (int s = 0; s < prompts.length; s++) {
                int best = 0;
                for (int v = 1; v < logits[s].length; v++) if (logits[s][v] > logits[s][best]) best = v;
                out[s][t] = best;
                start[s] += t == 0 ? prompts[s].length : 1;
                feed[s] = new int[] {best};
                last[s] = logits[s];
            }
        }
        return out;
    }

    static float[][] forward(Linear l, float[] x, int[] rows, int in, int out) {
        float[] xb = new float[rows.length * in], yb = new float[rows.length * out];
        for (int i = 0; i < rows.length; i++) System.arraycopy(x, rows[i] * in, xb, i * in, in);
        l.forward(xb, rows.length, yb);
        float[][] r = new float[rows.length][];
        for (int i = 0; i < rows.length; i++) r[i] = Arrays.copyOfRange(yb, i * out, (i + 1) * out);
        return r;
    }

    static int[] permutation(Random rnd, int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** A native F32 tensor (a heap segment seen by the Vector API would slow every kernel of the JVM). */
    static Tensor nativeF32(float[] w, int out, int in) {
        MemorySegment m = Arena.ofAuto().allocate(4L * w.length, 64);
        MemorySegment.copy(w, 0, m, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, w.length);
        return new Tensor("w", DType.F32, new long[] {out, in}, m);
    }
}
