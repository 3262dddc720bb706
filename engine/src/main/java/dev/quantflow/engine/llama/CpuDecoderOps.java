package dev.quantflow.engine.llama;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.model.LlamaConfig;
import java.util.Arrays;
import java.util.IdentityHashMap;

/**
 * The decoder ops on the CPU (Vector API kernels over heap arrays), bound to one step of one
 * stage. RoPE angles depend on the position only, so they are computed once per row here rather
 * than in every layer.
 */
final class CpuDecoderOps implements DecoderOps<float[], float[], Linear> {
    private final LlamaStage stage;
    private final LlamaConfig c;
    private final Rope rope;
    private final KvCache cache;
    private final BatchRows b;
    private final int[] selected;
    private final float[] cos, sin;   // (rows, headDim / 2)

    CpuDecoderOps(LlamaStage stage, Rope rope, KvCache cache, BatchRows b, int[] selected) {
        this.stage = stage;
        this.c = stage.config();
        this.rope = rope;
        this.cache = cache;
        this.b = b;
        this.selected = selected;
        int half = c.headDim() / 2;
        cos = new float[b.rows() * half];
        sin = new float[b.rows() * half];
        int[] seqLen = rope.dynamic() ? sequenceLengths(b) : null;
        for (int r = 0; r < b.rows(); r++)
            rope.angles(b.positions()[r], rope.invFreq(seqLen == null ? 0 : seqLen[r]), cos, sin, r * half);
    }

    /** Per row, 1 + the last position its sequence reaches in this step (rows of a sequence share their block table). */
    private static int[] sequenceLengths(BatchRows b) {
        IdentityHashMap<int[], Integer> last = new IdentityHashMap<>();
        for (int r = 0; r < b.rows(); r++) last.merge(b.blockTables()[r], b.positions()[r], Math::max);
        int[] len = new int[b.rows()];
        for (int r = 0; r < b.rows(); r++) len[r] = last.get(b.blockTables()[r]) + 1;
        return len;
    }

    @Override
    public int rows() {
        return b.rows();
    }

    @Override
    public int selectedRows() {
        return selected.length;
    }

    @Override
    public float[] scratch(String name, int rows, int width) {
        return new float[rows * width];
    }

    @Override
    public float[] embed() {
        return stage.embed(b.tokens());
    }

    @Override
    public float[] upload(float[] hidden) {
        if (hidden.length < rows() * c.hiddenSize())
            throw new IllegalArgumentException("hidden has " + hidden.length + " values for " + rows() + " rows of " + c.hiddenSize());
        return hidden;   // continued in place
    }

    @Override
    public float[] selectRows(float[] x, int width) {
        float[] out = new float[selected.length * width];
        for (int i = 0; i < selected.length; i++) System.arraycopy(x, selected[i] * width, out, i * width, width);
        return out;
    }

    @Override
    public void rmsnorm(float[] x, float[] weight, float[] out, int rows) {
        int d = weight.length;
        for (int r = 0; r < rows; r++) VectorMath.rmsnorm(out, r * d, x, r * d, weight, d, c.rmsNormEps());
    }

    @Override
    public void linear(Linear w, float[] x, int rows, float[] out) {
        w.forward(x, rows, out);
    }

    @Override
    public void rope(float[] x, int heads) {
        int half = c.headDim() / 2, width = heads * c.headDim();
        for (int r = 0; r < rows(); r++) rope.rotate(x, r * width, heads, cos, sin, r * half);
    }

    @Override
    public void kvStore(int layer, float[] k, float[] v) {
        int kvd = c.kvDim();
        for (int r = 0; r < rows(); r++) cache.store(layer, b.blockTables()[r], b.positions()[r], k, r * kvd, v, r * kvd);
    }

    @Override
    public void attention(int layer, float[] q, float[] out) {
        int qd = c.qDim(), maxPos = b.maxPosition(), window = c.attentionWindow(stage.firstLayer() + layer);
        Parallel.range(rows(), (long) (maxPos + 1) * qd * 2, (s, e) -> {
            float[] scores = new float[maxPos + 1];
            for (int r = s; r < e; r++) {
                int pos = b.positions()[r], from = window > 0 ? Math.max(0, pos - window + 1) : 0;   // a sliding window keeps the last window positions
                cache.attend(layer, b.blockTables()[r], from, pos, q, r * qd, out, r * qd, scores);
            }
        });
    }

    @Override
    public void add(float[] x, float[] y, int n) {
        VectorMath.addInPlace(x, 0, y, 0, n);
    }

    @Override
    public void siluGate(float[] gate, float[] up, int n) {
        VectorMath.siluGate(gate, up, n);
    }

    @Override
    public float[] download(float[] x, int n) {
        return x.length == n ? x : Arrays.copyOf(x, n);
    }
}
