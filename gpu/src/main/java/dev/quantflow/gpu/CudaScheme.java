package dev.quantflow.gpu;

import java.util.Locale;

/**
 * The quantization schemes the CUDA backend runs, parsed from "name[:parameter]":
 * fp32 / bf16 / dense (weights as stored), llm-int8[:threshold] (default 6.0), w8a8 (per-token x
 * per-channel), w8a8:G (group-wise), w4a16[:G] (default 128).
 */
public sealed interface CudaScheme {
    record Dense() implements CudaScheme {}

    record LlmInt8(float threshold) implements CudaScheme {}

    record W8A8(int group) implements CudaScheme {}   // group 0: per channel, dynamic per token

    record W4A16(int group) implements CudaScheme {}

    static CudaScheme parse(String spec) {
        String s = spec.strip().toLowerCase(Locale.ROOT);
        String name = s.contains(":") ? s.substring(0, s.indexOf(':')) : s;
        String param = s.contains(":") ? s.substring(s.indexOf(':') + 1) : "";
        try {
            return switch (name) {
                case "fp32", "bf16", "f16", "dense" -> {
                    if (!param.isEmpty()) throw new IllegalArgumentException("scheme " + name + " takes no parameter");
                    yield new Dense();
                }
                case "llm-int8" -> new LlmInt8(param.isEmpty() ? 6.0f : Float.parseFloat(param));
                case "w8a8", "w8a8-dynamic" -> new W8A8(param.isEmpty() ? 0 : Integer.parseInt(param));
                case "w4a16" -> new W4A16(param.isEmpty() ? 128 : Integer.parseInt(param));
                default -> throw new IllegalArgumentException("unknown scheme '" + spec + "' (fp32, bf16, llm-int8[:threshold], w8a8[:group], w4a16[:group])");
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad parameter in scheme '" + spec + "'");
        }
    }
}
