package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.LlamaConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * A place where a per-channel factor can move between two operators without changing the
 * model's function: the producer's output channel p is divided by s[p] and the consumers' input
 * columns fed by p are multiplied by s[p]. Producers are RMSNorm weights (-> q/k/v, -> gate/up),
 * v_proj rows (-> o_proj, through attention, which is linear in v; with grouped-query attention
 * one v row feeds the o_proj columns of every query head in its group) and up_proj rows
 * (-> down_proj, through silu(gate) * up). SmoothQuant, AWQ and outlier injection all use it.
 */
public record ChannelFold(String inputKey, String producer, boolean producerIsNorm, List<String> consumers, int[] paramOf, int params) {

    /** The four folds of every layer. */
    public static List<ChannelFold> all(LlamaConfig c) {
        List<ChannelFold> f = new ArrayList<>();
        int d = c.hiddenSize(), hd = c.headDim(), group = c.numHeads() / c.numKvHeads();
        int[] identD = identity(d), identH = identity(c.intermediateSize());
        int[] vOfO = new int[c.qDim()];
        for (int col = 0; col < vOfO.length; col++) vOfO[col] = (col / hd / group) * hd + col % hd;
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            f.add(new ChannelFold(p + "attn_in", p + "input_layernorm.weight", true,
                    List.of(p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"), identD, d));
            f.add(new ChannelFold(p + "self_attn.o_proj", p + "self_attn.v_proj.weight", false, List.of(p + "self_attn.o_proj"), vOfO, c.kvDim()));
            f.add(new ChannelFold(p + "mlp_in", p + "post_attention_layernorm.weight", true,
                    List.of(p + "mlp.gate_proj", p + "mlp.up_proj"), identD, d));
            f.add(new ChannelFold(p + "mlp.down_proj", p + "mlp.up_proj.weight", false, List.of(p + "mlp.down_proj"), identH, c.intermediateSize()));
        }
        return f;
    }

    private static int[] identity(int n) {
        return IntStream.range(0, n).toArray();
    }

    public int columns() {
        return paramOf.length;
    }

    /** Per-parameter max of a per-column statistic (columns tied to one parameter share it). */
    public float[] maxPerParam(float[] perColumn) {
        float[] m = new float[params];
        for (int col = 0; col < paramOf.length; col++) m[paramOf[col]] = Math.max(m[paramOf[col]], perColumn[col]);
        return m;
    }

    /** Per-parameter mean of a per-column statistic. */
    public float[] meanPerParam(float[] perColumn) {
        float[] m = new float[params];
        int[] n = new int[params];
        for (int col = 0; col < paramOf.length; col++) {
            m[paramOf[col]] += perColumn[col];
            n[paramOf[col]]++;
        }
        for (int i = 0; i < params; i++) m[i] /= Math.max(1, n[i]);
        return m;
    }

    /** max |W[:, col]| over all consumers, per input column. */
    public float[] weightColumnMax(WeightEdits w) {
        float[] m = new float[columns()];
        for (String name : consumers) {
            float[] wt = w.get(name + ".weight");
            int in = columns(), out = wt.length / in;
            for (int o = 0; o < out; o++) for (int col = 0; col < in; col++) m[col] = Math.max(m[col], Math.abs(wt[o * in + col]));
        }
        return m;
    }

    /** producer channel p /= s[p]; consumer columns col *= s[paramOf[col]]. Exact in real arithmetic. */
    public void apply(WeightEdits w, float[] s) {
        if (s.length != params) throw new IllegalArgumentException("need " + params + " factors, got " + s.length);
        float[] prod = w.get(producer);
        int rowLen = prod.length / params;   // 1 for a norm, in_features for a linear's rows
        for (int p = 0; p < params; p++) for (int i = 0; i < rowLen; i++) prod[p * rowLen + i] /= s[p];
        for (String name : consumers) {
            float[] wt = w.get(name + ".weight");
            int in = columns(), out = wt.length / in;
            for (int o = 0; o < out; o++) for (int col = 0; col < in; col++) wt[o * in + col] *= s[paramOf[col]];
        }
    }
}
