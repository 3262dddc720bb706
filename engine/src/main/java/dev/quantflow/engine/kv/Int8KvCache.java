package dev.quantflow.engine.kv;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.VectorMath;
import java.util.Arrays;

/**
 * KV cache stored as int8 with one fp32 scale per (token, kv head) for keys and for values:
 * a quarter of the fp32 cache plus 8 bytes per token and head. Codes are symmetric,
 * round(v / (max|v| / 127)); attention dequantizes on the fly (q.k = scale * sum q_i k_i).
 */
public final class Int8KvCache extends PagedKvCache {
    private final byte[][] keys, values;          // [layer][(block*blockSize + slot)*kvDim + kvHead*headDim + i]
    private final float[][] keyScales, valueScales; // [layer][(block*blockSize + slot)*numKvHeads + kvHead]

    public Int8KvCache(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim) {
        super(layers, blocks, blockSize, numHeads, numKvHeads, headDim);
        keys = new byte[layers][elementsPerLayer()];
        values = new byte[layers][elementsPerLayer()];
        keyScales = new float[layers][blocks * blockSize * numKvHeads];
        valueScales = new float[layers][blocks * blockSize * numKvHeads];
    }

    @Override
    public void store(int layer, int[] table, int pos, float[] k, int ko, float[] v, int vo) {
        int t = token(table, pos);
        for (int h = 0; h < numKvHeads; h++) {
            keyScales[layer][t * numKvHeads + h] = quantize(k, ko + h * headDim, keys[layer], t * kvDim + h * headDim);
            valueScales[layer][t * numKvHeads + h] = quantize(v, vo + h * headDim, values[layer], t * kvDim + h * headDim);
        }
    }

    private float quantize(float[] src, int so, byte[] dst, int dOff) {
        float m = 0f;
        for (int i = 0; i < headDim; i++) m = Math.max(m, Math.abs(src[so + i]));
        float scale = m == 0f ? 1f : m / 127f, inv = 1f / scale;
        for (int i = 0; i < headDim; i++) dst[dOff + i] = (byte) Math.max(-127, Math.min(127, Math.round(src[so + i] * inv)));
        return scale;
    }

    @Override
    public void attend(int layer, int[] table, int from, int pos, float[] q, int qo, float[] out, int oo, float[] scores) {
        byte[] K = keys[layer], V = values[layer];
        float[] ks = keyScales[layer], vs = valueScales[layer];
        int group = group();
        float scale = attentionScale();
        float[] row = new float[headDim];
        for (int h = 0; h < numHeads; h++) {
            int kvh = h / group, qh = qo + h * headDim, oh = oo + h * headDim;
            for (int p = from; p <= pos; p++) {
                int t = token(table, p);
                scores[p - from] = Int8Kernels.dotI8F32(K, t * kvDim + kvh * headDim, q, qh, headDim) * ks[t * numKvHeads + kvh] * scale;
            }
            VectorMath.softmax(scores, 0, pos - from + 1);
            Arrays.fill(out, oh, oh + headDim, 0f);
            for (int p = from; p <= pos; p++) {
                int t = token(table, p);
                Int8Kernels.dequantize(V, t * kvDim + kvh * headDim, vs[t * numKvHeads + kvh], row, headDim);
                VectorMath.axpy(out, oh, scores[p - from], row, 0, headDim);
            }
        }
    }

    @Override
    public long bytes() {
        return 2L * layers * ((long) keys[0].length + 4L * keyScales[0].length);
    }
}
