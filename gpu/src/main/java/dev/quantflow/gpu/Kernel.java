package dev.quantflow.gpu;

/**
 * Every kernel the Java side launches: the CUDA source file (module, src/main/cuda/MODULE.cu,
 * built to cuda/MODULE.ptx and cuda/MODULE.fatbin in the jar) and its extern "C" entry name.
 * The launcher looks kernels up only through this list, and a test checks that the PTX defines
 * an .entry for each of them.
 */
public enum Kernel {
    QUANTIZE_ROWS("quantize_rows", "qf_quantize_rows"),
    QUANTIZE_GROUPS("quantize_rows", "qf_quantize_groups"),
    OUTLIER_FLAGS("llm_int8", "qf_outlier_flags"),
    OUTLIER_COMPACT("llm_int8", "qf_outlier_compact"),
    QUANTIZE_MASKED("llm_int8", "qf_quantize_masked"),
    INT8_GEMM("llm_int8", "qf_int8_gemm"),
    INT8_GEMV("llm_int8", "qf_int8_gemv"),
    W8A8_GEMM("w8a8", "qf_w8a8_gemm"),
    W8A8_GEMV("w8a8", "qf_w8a8_gemv"),
    GEMV_F32("dense", "qf_gemv_f32"),
    GEMM_F32("dense", "qf_gemm_f32"),
    GEMV_BF16("dense", "qf_gemv_bf16"),
    GEMM_BF16("dense", "qf_gemm_bf16"),
    GEMV_F16("dense", "qf_gemv_f16"),
    GEMM_F16("dense", "qf_gemm_f16"),
    W4A16_GEMV("w4a16", "qf_w4a16_gemv"),
    W4A16_GEMM("w4a16", "qf_w4a16_gemm"),
    EMBED_F32("embedding", "qf_embed_f32"),
    EMBED_BF16("embedding", "qf_embed_bf16"),
    EMBED_F16("embedding", "qf_embed_f16"),
    RMSNORM("rmsnorm", "qf_rmsnorm"),
    ROPE("rope", "qf_rope"),
    KV_STORE("attention", "qf_kv_store"),
    ATTENTION("attention", "qf_attention"),
    SILU_GATE("silu_gate", "qf_silu_gate"),
    RESIDUAL_ADD("residual", "qf_add");

    public final String module;
    public final String entry;

    Kernel(String module, String entry) {
        this.module = module;
        this.entry = entry;
    }
}
