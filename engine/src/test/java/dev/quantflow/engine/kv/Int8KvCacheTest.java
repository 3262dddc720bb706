package dev.quantflow.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Int8 KV attention against fp32 KV attention on the same keys and values. */
class Int8KvCacheTest {
    @Test
    void attentionMatchesFp32WithinTheQuantizationStep() {
        check(0);
    }

    /** A sliding window (positions [from, pos]) in both formats, against a float64 softmax over just those positions. */
    @Test
    void slidingWindowAttendsToTheLastPositionsOnly() {
        check(29);
    }

    private static void check(int from) {
        int heads = 8, kvHeads = 4, hd = 16, pos = 40, bs = 16;
        float[][] keys = new float[pos + 1][], values = new float[pos + 1][];
        F32KvCache f = new F32KvCache(1, 4, bs, heads, kvHeads, hd);
        Int8KvCache q = new Int8KvCache(1, 4, bs, heads, kvHeads, hd);
        int[] table = {2, 0, 3};
        Random r = new Random(1);
        for (int p = 0; p <= pos; p++) {
            float[] k = new float[kvHeads * hd], v = new float[kvHeads * hd];
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) r.nextGaussian();
                v[i] = (float) r.nextGaussian() * (i % hd == 3 ? 10 : 1);
            }
            f.store(0, table, p, k, 0, v, 0);
            q.store(0, table, p, k, 0, v, 0);
            keys[p] = k;
            values[p] = v;
        }
        float[] query = new float[heads * hd];
        for (int i = 0; i < query.length; i++) query[i] = (float) r.nextGaussian();
        float[] a = new float[heads * hd], b = new float[heads * hd], scores = new float[pos + 1];
        f.attend(0, table, from, pos, query, 0, a, 0, scores);
        q.attend(0, table, from, pos, query, 0, b, 0, scores);
        for (int h = 0; h < heads; h++) {
            int g = h / (heads / kvHeads);
            double[] w = new double[pos + 1];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int p = from; p <= pos; p++) {
                for (int i = 0; i < hd; i++) w[p] += (double) query[h * hd + i] * keys[p][g * hd + i] / Math.sqrt(hd);
                max = Math.max(max, w[p]);
            }
            for (int p = from; p <= pos; p++) sum += w[p] = Math.exp(w[p] - max);
            for (int i = 0; i < hd; i++) {
                double want = 0;
                for (int p = from; p <= pos; p++) want += w[p] / sum * values[p][g * hd + i];
                assertThat(Math.abs(a[h * hd + i] - want)).as("f32 head %d", h).isLessThan(1e-4 * (1 + Math.abs(want)));
                assertThat(Math.abs(b[h * hd + i] - want)).as("int8 head %d", h).isLessThan(0.08);
            }
        }
        assertThat(q.bytes()).isLessThan(f.bytes() / 3);
    }
}
