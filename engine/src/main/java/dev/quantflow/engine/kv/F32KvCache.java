package dev.quantflow.engine.kv;

import dev.quantflow.engine.compute.VectorMath;

/** KV cache in fp32: keys and values of a layer in one array, (block, slot, kvHead, headDim). */
public final class F32KvCache extends PagedKvCache {
    private final float[][] keys, values;   // [layer][(block*blockSize + slot)*kvDim + kvHead*headDim + i]

    public F32KvCache(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim) {
        super(layers, blocks, blockSize, numHeads, numKvHeads, headDim);
        keys = new float[layers][elementsPerLayer()];
        values = new float[layers][elementsPerLayer()];
    }

    @Override
    public void store(int layer, int[] table, int pos, float[] k, int ko, float[] v, int vo) {
        int s = row(table, pos);
        System.arraycopy(k, ko, keys[layer], s, kvDim);
        System.arraycopy(v, vo, values[layer], s, kvDim);
    }

    @Override
    public void attend(int layer, int[] table, int from, int pos, float[] q, int qo, float[] out, int oo, float[] scores) {
        float[] K = keys[layer], V = values[layer];
        int group = group(), n = pos - from + 1;
        float scale = attentionScale();
        int[] slots = rows(table, from, n);
        for (int h = 0; h < numHeads; h++) {
            int kvOff = (h / group) * headDim, qh = qo + h * headDim, oh = oo + h * headDim;
            VectorMath.dotRows(q, qh, K, slots, kvOff, n, headDim, scale, scores);
            VectorMath.softmax(scores, 0, n);
            VectorMath.weightedRows(out, oh, scores, n, V, slots, kvOff, headDim);
        }
    }

    @Override
    public long bytes() {
        return 2L * layers * keys[0].length * 4;
    }
}
