package dev.quantflow.engine.kv;

import dev.quantflow.engine.compute.VectorMath;

/**
 * KV cache stored as IEEE half (llama.cpp's default KV type, vLLM's fp16): half the bytes of the
 * fp32 cache. Each key and value is rounded to the nearest half, ties to even
 * (Float.floatToFloat16; beyond +-65504 it is +-Inf, as in ggml); attention widens them in
 * registers and otherwise computes as {@link F32KvCache} does, in fp32.
 */
public final class F16KvCache extends PagedKvCache {
    private final short[][] keys, values;   // [layer][(block*blockSize + slot)*kvDim + kvHead*headDim + i], IEEE half bits

    public F16KvCache(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim) {
        super(layers, blocks, blockSize, numHeads, numKvHeads, headDim);
        keys = new short[layers][elementsPerLayer()];
        values = new short[layers][elementsPerLayer()];
    }

    @Override
    public void store(int layer, int[] table, int pos, float[] k, int ko, float[] v, int vo) {
        int s = row(table, pos);
        short[] K = keys[layer], V = values[layer];
        for (int i = 0; i < kvDim; i++) {
            K[s + i] = Float.floatToFloat16(k[ko + i]);
            V[s + i] = Float.floatToFloat16(v[vo + i]);
        }
    }

    @Override
    public void attend(int layer, int[] table, int from, int pos, float[] q, int qo, float[] out, int oo, float[] scores) {
        short[] K = keys[layer], V = values[layer];
        int group = group(), n = pos - from + 1;
        float scale = attentionScale();
        int[] rows = rows(table, from, n);
        for (int h = 0; h < numHeads; h++) {
            int kvOff = (h / group) * headDim, qh = qo + h * headDim, oh = oo + h * headDim;
            VectorMath.dotRowsF16(q, qh, K, rows, kvOff, n, headDim, scale, scores);
            VectorMath.softmax(scores, 0, n);
            VectorMath.weightedRowsF16(out, oh, scores, n, V, rows, kvOff, headDim);
        }
    }

    @Override
    public long bytes() {
        return 2L * layers * keys[0].length * Short.BYTES;
    }
}
