package dev.quantflow.engine.llama;

import java.util.List;
import java.util.function.Function;

/**
 * One decoder layer's weights on a device: N is a norm weight, L a linear in its packed format
 * (on the CPU float[] and Linear). Linear shapes are (out, in) as Hugging Face stores them.
 */
public record LayerWeights<N, L>(
        N attnNorm,  // (dim)                       input_layernorm
        L wq,        // (n_heads*head_dim, dim)     self_attn.q_proj
        L wk,        // (n_kv_heads*head_dim, dim)  self_attn.k_proj
        L wv,        // (n_kv_heads*head_dim, dim)  self_attn.v_proj
        L wo,        // (dim, n_heads*head_dim)     self_attn.o_proj
        N ffnNorm,   // (dim)                       post_attention_layernorm
        L wGate,     // (hidden, dim)               mlp.gate_proj
        L wUp,       // (hidden, dim)               mlp.up_proj
        L wDown) {   // (dim, hidden)               mlp.down_proj

    public List<L> linears() {
        return List.of(wq, wk, wv, wo, wGate, wUp, wDown);
    }

    /** The same layer with its norms and linears moved (e.g. onto a card) by the two functions. */
    public <N2, L2> LayerWeights<N2, L2> map(Function<N, N2> norm, Function<L, L2> linear) {
        return new LayerWeights<>(norm.apply(attnNorm), linear.apply(wq), linear.apply(wk), linear.apply(wv), linear.apply(wo),
                norm.apply(ffnNorm), linear.apply(wGate), linear.apply(wUp), linear.apply(wDown));
    }
}
