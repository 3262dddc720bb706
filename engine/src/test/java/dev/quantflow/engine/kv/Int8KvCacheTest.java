package dev.quantflow.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Int8 KV attention against fp32 KV attention on the same keys and values. */
class Int8KvCacheTest {
    @Test
    void attentionMatchesFp32WithinTheQuantizationStep() {
        int heads = 8, kvHeads = 4, hd = 16, pos = 40, bs = 16;
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
        }
        float[] query = new float[heads * hd];
        for (int i = 0; i < query.length; i++) query[i] = (float) r.nextGaussian();
        float[] a = new float[heads * hd], b = new float[heads * hd], scores = new float[pos + 1];
        f.attend(0, table, pos, query, 0, a, 0, scores);
        q.attend(0, table, pos, query, 0, b, 0, scores);
        for (int i = 0; i < a.length; i++) assertThat(Math.abs(a[i] - b[i])).isLessThan(0.08f);
        assertThat(q.bytes()).isLessThan(f.bytes() / 3);
    }
}
