package dev.quantflow.engine.llama;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.progress.Progress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The forward pass of a Llama decoder over layers [first, last): the first stage also embeds
 * tokens, the last also applies the final norm and lm_head. Activations are flat (rows, dim)
 * arrays; one row per token of the batch, whatever sequence it belongs to.
 */
public final class LlamaStage {
    private final LlamaConfig c;
    private final int first, last;
    private final Tensor embedding;       // (vocab, dim) as stored, stage 0 only; null when embedRows serves it
    private final RowDecodable embedRows; // a tied model's quantized lm_head, serving the lookups too (stage 0)
    private final List<LayerWeights<float[], Linear>> layers;  // [last - first]
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
        boolean isFirst = first == 0, isLast = last == c.numLayers(), tied = c.tieWordEmbeddings();
        // a missing embedding is named before the layers are packed (a stored quantized tied head may stand in for it)
        if (isFirst && w.find("model.embed_tokens.weight").isEmpty() && !(tied && w.tensors().keySet().stream().anyMatch(n -> n.startsWith("lm_head."))))
            tensor(w, "model.embed_tokens.weight");
        List<LayerWeights<float[], Linear>> ls = new ArrayList<>(last - first);
        // the linears are packed (or quantized) here: what a big model's load spends its time on
        Progress progress = Progress.current();
        int steps = last - first + (isLast ? 1 : 0);
        progress.update("layers", 0, steps, "layers");
        for (int l = first; l < last; l++) {
            ls.add(loadLayer(w, l, linears));
            progress.update("layers", l - first + 1, steps, "layers");
        }
        this.layers = List.copyOf(ls);
        this.finalNorm = isLast ? tensor(w, "model.norm.weight").toFloatArray() : null;
        if (isLast) {
            this.lmHead = head(w, linears, tied);
            progress.update("layers", steps, steps, "layers");
        } else {
            this.lmHead = null;
        }
        // tied: one matrix is both; when it is quantized into rows that decode one at a time, the
        // lookups read those rows. A first stage without the head takes it only from a quantized
        // checkpoint (the factories of pipelined stages quantize no head at load).
        Linear tiedHead = !tied ? null : isLast ? lmHead : isFirst ? storedHead(w, linears).orElse(null) : null;
        this.embedRows = isFirst && tiedHead instanceof RowDecodable r && !(tiedHead instanceof DenseLinear) ? r : null;
        this.embedding = isFirst && embedRows == null ? checkShape(w, tensor(w, "model.embed_tokens.weight"), c.vocabSize(), c.hiddenSize()) : null;
    }

    /**
     * lm_head: a quantized checkpoint's as stored (a tied one may then store no embedding at all),
     * else built from lm_head.weight, or from the embedding when tied.
     */
    private Linear head(WeightStore w, LinearFactory f, boolean tied) {
        Optional<Linear> stored = storedHead(w, f);
        if (stored.isPresent()) return stored.get();
        Tensor t = tied ? tensor(w, "model.embed_tokens.weight") : w.find("lm_head.weight").orElseThrow(() -> new ModelLoadException(w.source(),
                "config.json has tie_word_embeddings false but the checkpoint has no tensor lm_head.weight"));
        return f.create("lm_head", checkShape(w, t, c.vocabSize(), c.hiddenSize()), null);
    }

    /** lm_head as a quantized checkpoint stores it (no plain lm_head.weight, or packed U8 codes there); empty otherwise. */
    private Optional<Linear> storedHead(WeightStore w, LinearFactory f) {
        int vocab = c.vocabSize(), d = c.hiddenSize();
        Optional<Tensor> own = w.find("lm_head.weight");
        if (own.isPresent() && own.get().dtype() != DType.U8) return Optional.empty();
        Optional<Linear> stored = f.fromStore("lm_head", vocab, d, null);
        stored.ifPresent(h -> {
            if (h.outFeatures() != vocab || h.inFeatures() != d)
                throw new ModelLoadException(w.source(), "lm_head is " + h.outFeatures() + "x" + h.inFeatures() + ", expected " + vocab + "x" + d + " by config.json");
        });
        return stored;
    }

    private LayerWeights<float[], Linear> loadLayer(WeightStore w, int l, LinearFactory f) {
        String p = "model.layers." + l + ".";
        int d = c.hiddenSize(), h = c.intermediateSize();
        boolean qkv = c.attentionBias(), o = c.outputBias(), mlp = c.mlpBias();
        return new LayerWeights<>(
                tensor(w, p + "input_layernorm.weight").toFloatArray(),
                linear(w, f, p + "self_attn.q_proj", c.qDim(), d, qkv),
                linear(w, f, p + "self_attn.k_proj", c.kvDim(), d, qkv),
                linear(w, f, p + "self_attn.v_proj", c.kvDim(), d, qkv),
                linear(w, f, p + "self_attn.o_proj", d, c.qDim(), o),
                tensor(w, p + "post_attention_layernorm.weight").toFloatArray(),
                linear(w, f, p + "mlp.gate_proj", h, d, mlp),
                linear(w, f, p + "mlp.up_proj", h, d, mlp),
                linear(w, f, p + "mlp.down_proj", d, h, mlp));
    }

    /** The linear name, with its bias exactly where config.json's architecture and bias keys put one (as HF builds the module). */
    private Linear linear(WeightStore w, LinearFactory f, String name, int out, int in, boolean hasBias) {
        float[] bias = w.find(name + ".bias").map(t -> checkBias(w, t, out)).orElse(null);
        if (hasBias && bias == null)
            throw new ModelLoadException(w.source(), "config.json gives " + name + " a bias (" + biasKey(name) + ") but the checkpoint has no tensor " + name + ".bias");
        if (!hasBias && bias != null)
            throw new ModelLoadException(w.source(), "the checkpoint has " + name + ".bias but config.json gives that layer none (" + biasKey(name) + ")");
        // a quantized checkpoint: the factory knows its tensors (bitsandbytes packs 4-bit codes into a U8 [n/2, 1] NAME.weight)
        if (w.find(name + ".weight").map(t -> t.dtype() == DType.U8 && t.shape().length == 2 && t.shape()[1] == 1).orElse(true)) {
            Linear q = f.fromStore(name, out, in, bias).orElseThrow(() -> new ModelLoadException(w.source(), w.find(name + ".weight").isPresent()
                    ? name + ".weight is U8 (packed codes) but config.json's quantization_config does not say how to read it"
                    : "the checkpoint has no tensor " + name + ".weight"));
            if (q.outFeatures() != out || q.inFeatures() != in)
                throw new ModelLoadException(w.source(), name + " is " + q.outFeatures() + "x" + q.inFeatures() + ", expected " + out + "x" + in + " by config.json");
            return q;
        }
        Tensor weight = checkShape(w, tensor(w, name + ".weight"), out, in);
        return f.create(name, weight, bias);
    }

    /** Which config.json setting decides name's bias, for messages. */
    private String biasKey(String name) {
        String arch = c.architecture().toLowerCase(Locale.ROOT);
        if (arch.startsWith("mistral")) return c.architecture() + " has no biases";
        if (arch.startsWith("qwen2")) return c.architecture() + " has biases on q/k/v_proj only";
        if (name.contains(".mlp.")) return "mlp_bias " + c.mlpBias() + " for " + c.architecture();
        return "attention_bias " + c.attentionBias() + " for " + c.architecture();
    }

    private static float[] checkBias(WeightStore w, Tensor t, int out) {
        if (t.shape().length != 1 || t.shape()[0] != out)
            throw new ModelLoadException(w.source(), "tensor " + t + " should have shape [" + out + "] by config.json");
        return t.toFloatArray();
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
        return embedding != null || embedRows != null;
    }

    public boolean hasHead() {
        return lmHead != null;
    }

    public LayerWeights<float[], Linear> layer(int l) {
        return layers.get(l - first);
    }

    public Linear lmHead() {
        return lmHead;
    }

    public LlamaConfig config() {
        return c;
    }

    /** The embedding table (vocab, dim) as stored; stage 0 only, empty when the quantized tied head serves it ({@link #embeddingRows}). */
    public Optional<Tensor> embeddingTable() {
        return Optional.ofNullable(embedding);
    }

    /** The quantized tied lm_head whose rows are the embedding (stage 0 of a tied model with such a head). */
    public Optional<RowDecodable> embeddingRows() {
        return Optional.ofNullable(embedRows);
    }

    /** The final RMSNorm's weight (dim); last stage only. */
    public Optional<float[]> finalNorm() {
        return Optional.ofNullable(finalNorm);
    }

    /** The rotary embedding's frequencies (headDim / 2), as the CPU ops use them. */
    public float[] ropeInvFreq() {
        return rope.invFreq();
    }

    /** Bytes the linears of this stage (and lm_head on the last) keep resident. */
    public long weightBytes() {
        long bytes = lmHead != null ? lmHead.weightBytes() : 0;
        for (LayerWeights<float[], Linear> w : layers)
            for (Linear l : w.linears()) bytes += l.weightBytes();
        return bytes;
    }

    /** x = embedding rows of tokens: (rows, dim). */
    float[] embed(int[] tokens) {
        int d = c.hiddenSize();
        float[] x = new float[tokens.length * d];
        for (int r = 0; r < tokens.length; r++) {
            if (tokens[r] < 0 || tokens[r] >= c.vocabSize()) throw new IllegalArgumentException("token id " + tokens[r] + " out of range (vocab_size " + c.vocabSize() + ")");
            if (embedRows != null) embedRows.decodeRow(tokens[r], x, r * d);
            else embedding.readFloats((long) tokens[r] * d, x, r * d, d);
        }
        return x;
    }

    /**
     * One step of this stage on the CPU with the KV cache of its layers (cache layer i holds layer
     * first+i): see {@link StageCompute#forward}. The math is {@link DecoderForward}'s.
     */
    public float[] forward(float[] hidden, BatchRows rows, int[] logitRows, KvCache cache) {
        CpuDecoderOps ops = new CpuDecoderOps(this, rope, cache, rows, hasHead() ? logitRows : new int[0]);
        return DecoderForward.step(ops, c, layers, hasEmbedding(), finalNorm, lmHead, hidden);
    }
}
