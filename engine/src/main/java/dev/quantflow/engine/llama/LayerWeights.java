package dev.quantflow.engine.llama;

import dev.quantflow.engine.compute.Linear;

/** One decoder layer's weights. Linear shapes are (out, in) as Hugging Face stores them. */
public record LayerWeights(
        float[] attnNorm,  // (dim)                       input_layernorm
        Linear wq,         // (n_heads*head_dim, dim)     self_attn.q_proj
        Linear wk,         // (n_kv_heads*head_dim, dim)  self_attn.k_proj
        Linear wv,         // (n_kv_heads*head_dim, dim)  self_attn.v_proj
        Linear wo,         // (dim, n_heads*head_dim)     self_attn.o_proj
        float[] ffnNorm,   // (dim)                       post_attention_layernorm
        Linear wGate,      // (hidden, dim)               mlp.gate_proj
        Linear wUp,        // (hidden, dim)               mlp.up_proj
        Linear wDown) {    // (dim, hidden)               mlp.down_proj

    public java.util.List<Linear> linears() {
        return java.util.List.of(wq, wk, wv, wo, wGate, wUp, wDown);
    }
}
