package dev.quantflow.engine.gguf;

import java.util.Optional;

/**
 * general.file_type: llama.cpp's llama_ftype, the preset a file was quantized with (a file mixes
 * tensor types: Q4_K_M is Q4_K with Q6_K for some attn_v/ffn_down and the embedding). The name is
 * llama-quantize's preset name.
 */
public enum GgufFileType {
    F32(0), F16(1), Q4_0(2), Q4_1(3), Q8_0(7), Q5_0(8), Q5_1(9), Q2_K(10), Q3_K_S(11), Q3_K_M(12), Q3_K_L(13),
    Q4_K_S(14), Q4_K_M(15), Q5_K_S(16), Q5_K_M(17), Q6_K(18), BF16(32);

    /** The llama_ftype number stored in general.file_type. */
    public final int code;

    GgufFileType(int code) {
        this.code = code;
    }

    public static Optional<GgufFileType> of(long code) {
        for (GgufFileType t : values()) if (t.code == code) return Optional.of(t);
        return Optional.empty();
    }

    /** The file's preset, if it names one this enum knows. */
    public static Optional<GgufFileType> of(GgufFile g) {
        return g.has("general.file_type") ? of(g.getLong("general.file_type")) : Optional.empty();
    }
}
