package dev.quantflow.engine.llama;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.progress.Progress;
import java.util.Optional;

/**
 * The forward pass of a Llama decoder over layers [first, last): the first stage also embeds
 * tokens, the last also applies the final norm and lm_head. Activations are flat (rows, dim)
 * arrays; one row per token of the batch, whatever sequence it belongs to.
 */
public final class LlamaStage {
    private final LlamaConfig c;
    private final int first, last;
    private final Tensor embedding;       // (vocab, dim), stage 0 only
    private final LayerWeights[] layers;  // [last - first]
    private final float[] finalNorm;      // (dim), last stage only
    private final Linear lmHead;          // (vocab, dim), last stage only
    private final Rope rope;

    public LlamaStage(LlamaConfig c, WeightStore w, int first, int last, LinearFactory linears) {
        if (first < 0 || last > c.numLayers() || first > last)
            throw new IllegalArgumentException("bad layer range [" + first + ", " + last + ") of " + c.numLayers());
        this.c = c;
        this.first = first;
        this.last = last;
        this.rope = new Rope(c);
        boolean isFirst = first == 0, isLast = last == c.numLayers();
        Tensor embed = isFirst || (isLast && c.tieWordEmbeddings()) ? tensor(w, "model.embed_tokens.weight") : null;
        this.embedding = isFirst ? checkShape(w, embed, c.vocabSize(), c.hiddenSize()) : null;
        this.layers = new LayerWeights[last - first];
        // the linears are packed (or quantized) here: what a big model's load spends its time on
        Progress progress = Progress.current();
        int steps = last - first + (isLast ? 1 : 0);
        progress.update("layers", 0, steps, "layers");
        for (int l = first; l < last; l++) {
            layers[l - first] = loadLayer(w, l, linears);
            progress.update("layers", l - first + 1, steps, "layers");
        }
        this.finalNorm = isLast ? tensor(w, "model.norm.weight").toFloatArray() : null;
        if (isLast) {
            Tensor head = c.tieWordEmbeddings() ? embed : w.find("lm_head.weight").orElseGet(() -> tensor(w, "model.embed_tokens.weight"));
            this.lmHead = linears.create("lm_head", checkShape(w, head, c.vocabSize(), c.hiddenSize()), null);
            progress.update("layers", steps, steps, "layers");
        } else {
            this.lmHead = null;
        }
    }

    private LayerWeights loadLayer(WeightStore w, int l, LinearFactory f) {
        String p = "model.layers." + l + ".";
        int d = c.hiddenSize(), h = c.intermediateSize();
        return new LayerWeights(
                tensor(w, p + "input_layernorm.weight").toFloatArray(),
                linear(w, f, p + "self_attn.q_proj", c.qDim(), d),
                linear(w, f, p + "self_attn.k_proj", c.kvDim(), d),
                linear(w, f, p + "self_attn.v_proj", c.kvDim(), d),
                linear(w, f, p + "self_attn.o_proj", d, c.qDim()),
                tensor(w, p + "post_attention_layernorm.weight").toFloatArray(),
                linear(w, f, p + "mlp.gate_proj", h, d),
                linear(w, f, p + "mlp.up_proj", h, d),
                linear(w, f, p + "mlp.down_proj", d, h));
    }

    private static Linear linear(WeightStore w, LinearFactory f, String name, int out, int in) {
        float[] bias = w.find(name + ".bias").map(Tensor::toFloatArray).orElse(null);
        if (w.find(name + ".weight").isEmpty()) {   // a quantized checkpoint: the factory knows its tensors
            Linear q = f.fromStore(name, out, in, bias).orElseThrow(() -> new ModelLoadException(w.source(), "the checkpoint has no tensor " + name + ".weight"));
            if (q.outFeatures() != out || q.inFeatures() != in)
                throw new ModelLoadException(w.source(), name + " is " + q.outFeatures() + "x" + q.inFeatures() + ", expected " + out + "x" + in + " by config.json");
            return q;
        }
        Tensor weight = checkShape(w, tensor(w, name + ".weight"), out, in);
        return f.create(name, weight, bias);
    }

    private static Tensor tensor(WeightStore w, String name) {
        return w.find(name).orElseThrow(() -> new ModelLoadException(w.source(), "the checkpoint has no tensor " + name));
    }

    private static Tensor checkShape(WeightStore w, Tensor t, int rows, int cols) {
        if (t.shape().length != 2 || t.shape()[0] != rows || t.shape()[1] != cols)
            throw new ModelLoadException(w.source(), "tensor " + t + " should have shape [" + rows + ", " + cols + "] by config.json");
        return t;
    }

    public int firstLayer() {
        return first;
    }

    public int lastLayer() {
        return last;
    }

    public boolean hasEmbedding() {
        return embedding != null;
    }

    public boolean hasHead() {
        return lmHead != null;
    }

    public LayerWeights layer(int l) {
        return layers[l - first];
    }

    public Linear lmHead() {
        return lmHead;
    }

    public LlamaConfig config() {
        return c;
    }

    /** The embedding table (vocab, dim) as stored; stage 0 only. */
    public Optional<Tensor> embeddingTable() {
        return Optional.ofNullable(embedding);
    }

    /** The final RMSNorm's weight (dim); last stage only. */
    public Optional<float[]> finalNorm() {
        return Optional.ofNullable(finalNorm);
    }

    /** The rotary embedding's frequencies (headDim / 2), as forwardLayers uses them. */
    public float[] ropeInvFreq() {
        return rope.invFreq();
    }

    /** Bytes the linears of this stage (and lm_head on the last) keep resident. */
    public long weightBytes() {
        long bytes = lmHead != null ? lmHead.weightBytes() : 0;
        for (LayerWeights w : layers)
            for (Linear l : w.linears()) bytes += l.weightBytes();
        return bytes;
    }

    /** x = embedding rows of tokens: (rows, dim). */
    public float[] embed(int[] tokens) {
        int d = c.hiddenSize();
        float[] x = new float[tokens.length * d];
        for (int r = 0; r < tokens.length; r++) {
            if (tokens[r] < 0 || tokens[r] >= c.vocabSize()) throw new IllegalArgumentException("token id " + tokens[r] + " out of range (vocab_size " + c.vocabSize() + ")");
            embedding.readFloats((long) tokens[r] * d, x, r * d, d);
        }
        return x;
    }

    /** Runs layers [first, last) in place over x (rows, dim); cache layer i holds layer first+i. */
    public void forwardLayers(float[] x, BatchRows b, KvCache cache) {
        int rows = b.rows(), d = c.hiddenSize(), qd = c.qDim(), kvd = c.kvDim(), hid = c.intermediateSize();
        float[] xb = new float[rows * d], q = new float[rows * qd], k = new float[rows * kvd], v = new float[rows * kvd];
        float[] att = new float[rows * qd], gate = new float[rows * hid], up = new float[rows * hid];
        int maxPos = b.maxPosition();
        // RoPE angles depend on the position only: once per row, not per layer
        int half = c.headDim() / 2;
        float[] cos = new float[rows * half], sin = new float[rows * half];
        for (int r = 0; r < rows; r++) rope.angles(b.positions()[r], cos, sin, r * half);
        for (int l = first; l < last; l++) {
            LayerWeights w = layers[l - first];
            int cl = l - first;
            // attention: x += Wo · attn(rope(Wq·xb), rope(Wk·xb), Wv·xb), xb = rmsnorm(x)
            for (int r = 0; r < rows; r++) VectorMath.rmsnorm(xb, r * d, x, r * d, w.attnNorm(), d, c.rmsNormEps());
            w.wq().forward(xb, rows, q);
            w.wk().forward(xb, rows, k);
            w.wv().forward(xb, rows, v);
            for (int r = 0; r < rows; r++) {
                rope.rotate(q, r * qd, c.numHeads(), cos, sin, r * half);
                rope.rotate(k, r * kvd, c.numKvHeads(), cos, sin, r * half);
                cache.store(cl, b.blockTables()[r], b.positions()[r], k, r * kvd, v, r * kvd);
            }
            Parallel.range(rows, (long) (maxPos + 1) * qd * 2, (s, e) -> {
                float[] scores = new float[maxPos + 1];
                for (int r = s; r < e; r++) cache.attend(cl, b.blockTables()[r], b.positions()[r], q, r * qd, att, r * qd, scores);
            });
            w.wo().forward(att, rows, xb);
            VectorMath.addInPlace(x, 0, xb, 0, rows * d);
            // MLP: x += Wdown · (silu(Wgate·xb) * Wup·xb), xb = rmsnorm(x)
            for (int r = 0; r < rows; r++) VectorMath.rmsnorm(xb, r * d, x, r * d, w.ffnNorm(), d, c.rmsNormEps());
            w.wGate().forward(xb, rows, gate);
            w.wUp().forward(xb, rows, up);
            VectorMath.siluGate(gate, up, rows * hid);
            w.wDown().forward(gate, rows, xb);
            VectorMath.addInPlace(x, 0, xb, 0, rows * d);
        }
    }

    /** Logits (selected.length, vocab) of the selected rows of x: final norm, then lm_head. */
    public float[] logits(float[] x, int[] selected) {
        int d = c.hiddenSize();
        float[] xn = new float[selected.length * d];
        for (int i = 0; i < selected.length; i++) VectorMath.rmsnorm(xn, i * d, x, selected[i] * d, finalNorm, d, c.rmsNormEps());
        float[] logits = new float[selected.length * c.vocabSize()];
        lmHead.forward(xn, selected.length, logits);
        return logits;
    }
}
