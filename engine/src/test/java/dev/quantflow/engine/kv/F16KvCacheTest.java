package dev.quantflow.engine.kv;

import static dev.quantflow.engine.llama.StageSteps.forward;
import static dev.quantflow.engine.llama.StageSteps.ints;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.sample.Sampler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The f16 KV cache: storage rounds to the nearest half (ties to even) against a float64
 * reference, every half survives it, and its attention is the f32 cache's over the rounded keys
 * and values, on random inputs and on stories260K's. Head sizes 20, 40 and 72 reach the kernels'
 * four-vector, one-vector and scalar-tail paths at 8 and 16 float lanes.
 */
class F16KvCacheTest {
    /** Half of a half's relative step (2^-11): the most a stored key or value moves, relative to itself. */
    static final double HALF_ROUNDING = 0x1p-11;

    /** x rounded to the nearest IEEE half in float64, ties to even: the half's step at x's binade (2^-24 below 2^-14), then Math.rint; +-Inf from 65520 (65504 + half a step) up. */
    static double roundToHalf(double x) {
        double a = Math.abs(x);
        if (Double.isNaN(x)) return x;
        if (a >= 65520) return Math.copySign(Double.POSITIVE_INFINITY, x);
        int e = a == 0 ? -14 : Math.max(Math.getExponent(a), -14);
        double step = Math.scalb(1.0, e - 10);
        return Math.copySign(Math.rint(a / step) * step, x);
    }

    /** What the cache holds as the values of position p: attention over p alone weighs it exactly 1 (keys and query zero). */
    private static float[] storedValues(KvCache c, int[] table, int p, int headDim) {
        float[] zeros = new float[headDim], out = new float[headDim];
        c.attend(0, table, p, p, zeros, 0, out, 0, new float[1]);
        return out;
    }

    /** A block table that is not the identity, so positions map through it. */
    private static int[] reversedTable(int blocks) {
        int[] t = new int[blocks];
        for (int i = 0; i < blocks; i++) t[i] = blocks - 1 - i;
        return t;
    }

    @Test
    void namedF16AndFp16() {
        assertThat(KvFormat.parse("f16")).isEqualTo(KvFormat.F16);
        assertThat(KvFormat.parse("FP16")).isEqualTo(KvFormat.F16);
        assertThat(KvFormat.F16).hasToString("f16");
        assertThat(KvFormat.F16.create(2, 3, 16, 4, 2, 8)).isInstanceOf(F16KvCache.class);
        assertThat(KvFormat.F16.create(2, 3, 16, 4, 2, 8).bytes()).isEqualTo(2L * 2 * 3 * 16 * 2 * 8 * 2);
    }

    @ParameterizedTest
    @ValueSource(ints = {20, 72})
    void everyHalfRoundTrips(int hd) {
        int tokens = (65536 + hd - 1) / hd, bs = 16, blocks = (tokens + bs - 1) / bs;
        F16KvCache c = new F16KvCache(1, blocks, bs, 1, 1, hd);
        int[] table = reversedTable(blocks);
        float[] zeros = new float[hd], v = new float[hd];
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < hd; i++) v[i] = Float.float16ToFloat((short) (t * hd + i));   // every 16-bit pattern, the last row wrapping
            c.store(0, table, t, zeros, 0, v, 0);
        }
        for (int t = 0; t < tokens; t++) {
            float[] got = storedValues(c, table, t, hd);
            for (int i = 0; i < hd; i++) {
                short h = (short) (t * hd + i);
                float want = Float.float16ToFloat(h);
                if (Float.isNaN(want)) assertThat(got[i]).as("half 0x%04x", h & 0xFFFF).isNaN();
                else assertThat(got[i] == want).as("half 0x%04x: got %s, want %s", h & 0xFFFF, got[i], want).isTrue();   // == : weight 1 plus +0 turns -0 into +0
            }
        }
    }

    /** Every finite half as a key: the f16 cache's attention has the bits of the f32 cache's fed the same (exact) values. */
    @ParameterizedTest
    @ValueSource(ints = {20, 40, 72})
    void everyFiniteHalfAsAKeyAttendsAsInF32(int hd) {
        int heads = 4, kvHeads = 2, kvDim = kvHeads * hd, tokens = (65536 + kvDim - 1) / kvDim, bs = 16, blocks = (tokens + bs - 1) / bs;
        F16KvCache h = new F16KvCache(1, blocks, bs, heads, kvHeads, hd);
        F32KvCache f = new F32KvCache(1, blocks, bs, heads, kvHeads, hd);
        int[] table = reversedTable(blocks);
        Random r = new Random(3);
        float[] k = new float[kvDim], v = new float[kvDim];
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < kvDim; i++) {
                float x = Float.float16ToFloat((short) (t * kvDim + i));
                k[i] = Float.isFinite(x) ? x : 0f;   // scores up to ~1e6: finite, and softmax subtracts the max
                v[i] = Float.float16ToFloat(Float.floatToFloat16((float) r.nextGaussian()));
            }
            h.store(0, table, t, k, 0, v, 0);
            f.store(0, table, t, k, 0, v, 0);
        }
        float[] q = new float[heads * hd], a = new float[heads * hd], b = new float[heads * hd], scores = new float[tokens];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        for (int from : new int[] {0, tokens - 3, tokens - 6}) {   // n = tokens, 3 (no group of four), 6 (one group and a rest)
            f.attend(0, table, from, tokens - 1, q, 0, a, 0, scores);
            h.attend(0, table, from, tokens - 1, q, 0, b, 0, scores);
            assertThat(b).as("from %d", from).isEqualTo(a);
        }
    }

    @Test
    void storeRoundsToTheNearestHalfTiesToEven() {
        int hd = 72, tokens = 512, bs = 16;
        F16KvCache c = new F16KvCache(1, tokens / bs, bs, 1, 1, hd);
        int[] table = reversedTable(tokens / bs);
        Random r = new Random(11);
        float[][] stored = new float[tokens][hd];
        float[] zeros = new float[hd];
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < hd; i++) {
                double sign = r.nextBoolean() ? 1 : -1;
                stored[t][i] = (float) (sign * sample(r));
            }
            if (t == 0) System.arraycopy(EDGES, 0, stored[t], 0, EDGES.length);
            c.store(0, table, t, zeros, 0, stored[t], 0);
        }
        for (int t = 0; t < tokens; t++) {
            float[] got = storedValues(c, table, t, hd);
            for (int i = 0; i < hd; i++) {
                float x = stored[t][i], want = (float) roundToHalf(x);
                assertThat(got[i] == want).as("%s (0x%08x): got %s, want %s", x, Float.floatToRawIntBits(x), got[i], want).isTrue();
            }
        }
    }

    /** Ties and bounds by hand: to Inf at 65520, not at just below; ties to even at 1 and at the smallest subnormals. */
    private static final float[] EDGES = {65504f, 65519.996f, 65520f, -65520f, 65536f, 0x1p-25f, 0x3p-25f, 0x1p-24f, -0x1p-25f,
            1 + 0x1p-11f, 1 + 0x3p-11f, 0x1p-14f - 0x1p-25f, 0f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.NEGATIVE_INFINITY};

    /** A magnitude from one of four kinds, each where rounding to half has a case of its own. */
    private static double sample(Random r) {
        return switch (r.nextInt(4)) {
            case 0 -> Math.scalb(1 + r.nextDouble(), r.nextInt(-27, 17));   // every binade, subnormal halves and overflow included
            case 1 -> {   // an exact tie between two neighbouring finite halves
                int n = r.nextInt(0x7BFF);
                yield (Float.float16ToFloat((short) n) + (double) Float.float16ToFloat((short) (n + 1))) / 2;
            }
            case 2 -> 65000 + 1000 * r.nextDouble();   // around the largest half (65504) and the tie to Inf (65520)
            default -> 0x1p-23 * r.nextDouble();   // below the smallest subnormal half 2^-24 and just above
        };
    }

    @ParameterizedTest
    @ValueSource(ints = {20, 40, 72})
    void attentionIsFloat64AttentionOverTheRoundedKeysAndValues(int hd) {
        check(hd, 0);
    }

    /** A sliding window (positions [from, pos]). */
    @ParameterizedTest
    @ValueSource(ints = {20, 40, 72})
    void slidingWindowAttendsToTheLastPositionsOnly(int hd) {
        check(hd, 29);
    }

    private static void check(int hd, int from) {
        int heads = 8, kvHeads = 4, pos = 40, bs = 16;
        double[][] keys = new double[pos + 1][], values = new double[pos + 1][], rk = new double[pos + 1][], rv = new double[pos + 1][];
        F32KvCache f = new F32KvCache(1, 4, bs, heads, kvHeads, hd);
        F16KvCache h = new F16KvCache(1, 4, bs, heads, kvHeads, hd);
        int[] table = {2, 0, 3};
        Random r = new Random(1);
        for (int p = 0; p <= pos; p++) {
            float[] k = new float[kvHeads * hd], v = new float[kvHeads * hd];
            keys[p] = new double[k.length];
            values[p] = new double[k.length];
            rk[p] = new double[k.length];
            rv[p] = new double[k.length];
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) r.nextGaussian();
                v[i] = (float) r.nextGaussian() * (i % hd == 3 ? 10 : 1);
                keys[p][i] = k[i];
                values[p][i] = v[i];
                rk[p][i] = roundToHalf(k[i]);
                rv[p][i] = roundToHalf(v[i]);
            }
            f.store(0, table, p, k, 0, v, 0);
            h.store(0, table, p, k, 0, v, 0);
        }
        float[] query = new float[heads * hd];
        for (int i = 0; i < query.length; i++) query[i] = (float) r.nextGaussian();
        float[] a = new float[heads * hd], b = new float[heads * hd], scores = new float[pos + 1];
        f.attend(0, table, from, pos, query, 0, a, 0, scores);
        h.attend(0, table, from, pos, query, 0, b, 0, scores);
        double[] exact = reference(query, keys, values, heads, kvHeads, hd, from, pos), rounded = reference(query, rk, rv, heads, kvHeads, hd, from, pos);
        double worst = 0;
        for (int i = 0; i < heads * hd; i++) worst = Math.max(worst, Math.abs(b[i] - exact[i]));
        System.out.printf(Locale.ROOT, "head size %d, from %d: f16 KV attention vs float64, max |error| %.2e%n", hd, from, worst);
        for (int i = 0; i < heads * hd; i++) {
            assertThat(Math.abs(a[i] - exact[i])).as("f32 output %d", i).isLessThan(1e-4 * (1 + Math.abs(exact[i])));
            // the f16 cache computes in fp32 over what it stored: as close to float64 over the rounded K/V as the f32 cache is to float64 over its own
            assertThat(Math.abs(b[i] - rounded[i])).as("f16 output %d vs float64 over the rounded K/V", i).isLessThan(1e-4 * (1 + Math.abs(rounded[i])));
            // and from the unrounded: values move by up to 2^-11 of themselves (|v| < 40 here), scores by as much of sum |q k| / sqrt(d)
            assertThat(Math.abs(b[i] - exact[i])).as("f16 output %d vs float64", i).isLessThan(40 * HALF_ROUNDING);
        }
        assertThat(h.bytes()).isEqualTo(f.bytes() / 2);
    }

    /** Grouped-query attention of one token over positions [from, pos], in float64. */
    private static double[] reference(float[] query, double[][] keys, double[][] values, int heads, int kvHeads, int hd, int from, int pos) {
        double[] out = new double[heads * hd];
        for (int h = 0; h < heads; h++) {
            int g = h / (heads / kvHeads);
            double[] w = new double[pos + 1];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int p = from; p <= pos; p++) {
                for (int i = 0; i < hd; i++) w[p] += query[h * hd + i] * keys[p][g * hd + i] / Math.sqrt(hd);
                max = Math.max(max, w[p]);
            }
            for (int p = from; p <= pos; p++) sum += w[p] = Math.exp(w[p] - max);
            for (int i = 0; i < hd; i++)
                for (int p = from; p <= pos; p++) out[h * hd + i] += w[p] / sum * values[p][g * hd + i];
        }
        return out;
    }

    /**
     * Both caches fed the same keys and values; the f32 cache's output goes on, so every call
     * compares the two at the same inputs (no drift). Records the worst max|f16 - f32| / max|f32|
     * over the heads of one token.
     */
    static final class Twin implements KvCache {
        final KvCache f32, f16;
        final int width;   // numHeads * headDim: one token's output
        double worst;
        long calls;

        Twin(KvCache f32, KvCache f16, int width) {
            this.f32 = f32;
            this.f16 = f16;
            this.width = width;
        }

        @Override public int numLayers() { return f32.numLayers(); }
        @Override public int numBlocks() { return f32.numBlocks(); }
        @Override public int blockSize() { return f32.blockSize(); }
        @Override public long bytes() { return f32.bytes() + f16.bytes(); }

        @Override
        public void store(int layer, int[] table, int pos, float[] k, int ko, float[] v, int vo) {
            f32.store(layer, table, pos, k, ko, v, vo);
            f16.store(layer, table, pos, k, ko, v, vo);
        }

        @Override
        public void attend(int layer, int[] table, int from, int pos, float[] q, int qo, float[] out, int oo, float[] scores) {
            float[] half = new float[out.length];
            f16.attend(layer, table, from, pos, q, qo, half, oo, scores);
            f32.attend(layer, table, from, pos, q, qo, out, oo, scores);
            double diff = 0, max = 0;
            for (int i = oo; i < oo + width; i++) {
                diff = Math.max(diff, Math.abs(half[i] - out[i]));
                max = Math.max(max, Math.abs(out[i]));
            }
            if (max > 0) worst = Math.max(worst, diff / max);
            calls++;
        }
    }

    /**
     * stories260K on the prompts of its llama2.c reference (up to 64 steps), greedily: every
     * attention output of the f16 cache within 2e-2 of the f32 cache's, relative to the largest
     * output of that token (measured 1.1e-2). The storage moves each value by up to 2^-11 of
     * itself and each score by up to 2^-11 sum|q_i k_i| / sqrt(d), which the softmax passes on to
     * the weights. And the f16 cache alone gives llama2.c's greedy ids on every case.
     */
    @Test
    void stories260kAttentionStaysNearF32() throws IOException {
        Path dir = SharedData.path("models/stories260K"), ref = SharedData.path("reference/stories260K-greedy.json");
        assumeTrue(Files.isDirectory(dir) && Files.isRegularFile(ref), "no stories260K or its reference");
        LlamaConfig c = LlamaConfig.load(dir);
        try (WeightStore w = WeightStore.open(dir)) {
            LlamaStage stage = new LlamaStage(c, w, 0, c.numLayers(), LinearFactory.DENSE);
            int bs = KvCache.BLOCK_SIZE, blocks = 32;
            Twin twin = new Twin(KvFormat.F32.create(c.numLayers(), blocks, bs, c.numHeads(), c.numKvHeads(), c.headDim()),
                    KvFormat.F16.create(c.numLayers(), blocks, bs, c.numHeads(), c.numKvHeads(), c.headDim()), c.numHeads() * c.headDim());
            for (JsonNode k : new ObjectMapper().readTree(ref.toFile()).path("cases")) {
                int[] prompt = ints(k.path("prompt_tokens"));
                int steps = Math.min(k.path("generated_tokens").size(), 64);
                int[] table = new BlockAllocator(blocks).ensure(new int[0], prompt.length + steps, bs);
                float[] logits = forward(stage, twin, table, prompt, 0);
                for (int i = 0; i < steps; i++) {
                    int next = Sampler.argmax(logits, 0, c.vocabSize());
                    logits = forward(stage, twin, table, new int[] {next}, prompt.length + i);
                }
            }
            int same = 0, cases = 0;
            for (JsonNode k : new ObjectMapper().readTree(ref.toFile()).path("cases")) {   // the f16 cache alone, greedy, against llama2.c's ids
                int[] prompt = ints(k.path("prompt_tokens")), expected = ints(k.path("generated_tokens"));
                int steps = Math.min(expected.length, 64);
                KvCache f16 = KvFormat.F16.create(c.numLayers(), blocks, bs, c.numHeads(), c.numKvHeads(), c.headDim());
                int[] table = new BlockAllocator(blocks).ensure(new int[0], prompt.length + steps, bs);
                float[] logits = forward(stage, f16, table, prompt, 0);
                int i = 0;
                for (; i < steps; i++) {
                    int next = Sampler.argmax(logits, 0, c.vocabSize());
                    if (next != expected[i]) break;
                    logits = forward(stage, f16, table, new int[] {next}, prompt.length + i);
                }
                cases++;
                if (i == steps) same++;
                else System.out.printf(Locale.ROOT, "stories260K --kv f16 '%s': differs from llama2.c at step %d%n", k.path("prompt").asText(), i);
            }
            System.out.printf(Locale.ROOT, "stories260K: f16 vs f32 KV attention over %d calls, worst max|diff| / max|f32| %.3e; greedy ids equal llama2.c's on %d of %d cases%n",
                    twin.calls, twin.worst, same, cases);
            assertThat(twin.calls).isGreaterThan(1000);
            assertThat(twin.worst).isGreaterThan(0).isLessThan(2e-2);
            assertThat(same).isEqualTo(cases);
        }
    }
}
