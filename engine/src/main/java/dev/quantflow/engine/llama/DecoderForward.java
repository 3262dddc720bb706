package dev.quantflow.engine.llama;

import dev.quantflow.engine.model.LlamaConfig;
import java.util.List;

/**
 * The decoder's forward pass, the only one: embedding (stage 0), layers [first, last) and the
 * final norm with lm_head (last stage), written once against {@link DecoderOps} so that every
 * device runs the same steps in the same order.
 */
public final class DecoderForward {
    private DecoderForward() {}

    /**
     * One step of a stage. Stage 0 embeds the step's tokens and ignores hidden; the others continue
     * from hidden (rows, dim). Returns the hidden state for the next stage, or on the last stage the
     * logits (selected rows, vocab).
     */
    public static <A, N, L> float[] step(DecoderOps<A, N, L> ops, LlamaConfig c, List<LayerWeights<N, L>> layers,
                                         boolean embeds, N finalNorm, L lmHead, float[] hidden) {
        int d = c.hiddenSize();
        A x = embeds ? ops.embed() : ops.upload(hidden);
        layers(ops, c, layers, x);
        if (lmHead == null) return ops.download(x, ops.rows() * d);
        if (ops.selectedRows() == 0) return ops.download(x, 0);   // the step still filled the KV cache
        return ops.download(logits(ops, c, finalNorm, lmHead, x), ops.selectedRows() * c.vocabSize());
    }

    /** Runs the layers in place over x (rows, dim); layers.get(i) uses cache layer i. */
    private static <A, N, L> void layers(DecoderOps<A, N, L> ops, LlamaConfig c, List<LayerWeights<N, L>> layers, A x) {
        int m = ops.rows(), d = c.hiddenSize(), qd = c.qDim(), kvd = c.kvDim(), hid = c.intermediateSize();
        A xb = ops.scratch("xb", m, d), q = ops.scratch("q", m, qd), k = ops.scratch("k", m, kvd), v = ops.scratch("v", m, kvd);
        A att = ops.scratch("att", m, qd), gate = ops.scratch("gate", m, hid), up = ops.scratch("up", m, hid);
        for (int l = 0; l < layers.size(); l++) {
            LayerWeights<N, L> w = layers.get(l);
            // attention: x += Wo · attn(rope(Wq·xb), rope(Wk·xb), Wv·xb), xb = rmsnorm(x)
            ops.rmsnorm(x, w.attnNorm(), xb, m);
            ops.linear(w.wq(), xb, m, q);
            ops.linear(w.wk(), xb, m, k);
            ops.linear(w.wv(), xb, m, v);
            ops.rope(q, c.numHeads());
            ops.rope(k, c.numKvHeads());
            ops.kvStore(l, k, v);   // every row's key first: a prefill chunk's rows attend to each other
            ops.attention(l, q, att);
            ops.linear(w.wo(), att, m, xb);
            ops.add(x, xb, m * d);
            // MLP: x += Wdown · (silu(Wgate·xb) * Wup·xb), xb = rmsnorm(x)
            ops.rmsnorm(x, w.ffnNorm(), xb, m);
            ops.linear(w.wGate(), xb, m, gate);
            ops.linear(w.wUp(), xb, m, up);
            ops.siluGate(gate, up, m * hid);
            ops.linear(w.wDown(), gate, m, xb);
            ops.add(x, xb, m * d);
        }
    }

    /** Logits (selected rows, vocab): the selected rows of x, final norm, lm_head. */
    private static <A, N, L> A logits(DecoderOps<A, N, L> ops, LlamaConfig c, N finalNorm, L lmHead, A x) {
        int s = ops.selectedRows(), d = c.hiddenSize();
        A xs = ops.selectRows(x, d), xn = ops.scratch("head.xn", s, d), logits = ops.scratch("head.logits", s, c.vocabSize());
        ops.rmsnorm(xs, finalNorm, xn, s);
        ops.linear(lmHead, xn, s, logits);
        return logits;
    }
}
