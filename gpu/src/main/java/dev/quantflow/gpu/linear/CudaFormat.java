package dev.quantflow.gpu.linear;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.quant.Fp8Linear;
import dev.quantflow.engine.quant.Fp8W8A8Linear;
import dev.quantflow.engine.quant.Int4GroupLinear;
import dev.quantflow.engine.quant.LlmInt8Linear;
import dev.quantflow.engine.quant.QuantScheme;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.engine.quant.W8A8DynamicLinear;
import dev.quantflow.gpu.WeightPacking.Int4Groups;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import dev.quantflow.gpu.WeightPacking.Int8Groups;
import dev.quantflow.gpu.WeightPacking;
import java.util.Optional;

/**
 * What one linear becomes on a card, prepared on the host (no card needed) from what the engine
 * built for its scheme: dense weights as stored (bf16 converted by the engine's rule), otherwise
 * the codes and scales of the engine's quantized linear. A scheme or format without a CUDA kernel
 * is refused here with one line naming the layer, the scheme and what to use instead.
 */
public sealed interface CudaFormat {
    /** F32, BF16 or F16 (out, in) row-major. */
    record Dense(Tensor weight) implements CudaFormat {}

    /** Per-channel int8 with per-token int8 activations; columns with |x| >= threshold in fp (threshold +inf: plain W8A8). */
    record Int8(Int8Channel weights, float threshold) implements CudaFormat {}

    record W8A8Groups(Int8Groups weights) implements CudaFormat {}

    record W4A16(Int4Groups weights) implements CudaFormat {}

    /**
     * The card's format for layer name of the given scheme: dense schemes straight from the tensor
     * (the engine's CPU panels are never built), quantized ones from the engine's linear for it.
     */
    static CudaFormat of(String name, QuantScheme scheme, Tensor weight, float[] bias, LinearFactory engine) {
        return switch (scheme) {
            case QuantScheme.Fp32 f -> new Dense(weight);
            case QuantScheme.Bf16 b -> new Dense(QuantizedModels.toBf16(weight));
            case QuantScheme.W8A16 w -> throw unsupported(name, scheme, "there is no weight-only int8 kernel; use w8a8-dynamic or llm-int8");
            case QuantScheme.W8A8Tensor w -> throw unsupported(name, scheme, "static activation scales have no kernel; use w8a8-dynamic");
            case QuantScheme.Fp8 f -> throw unsupported(name, scheme, FP8_REFUSAL);
            case QuantScheme.Fp8W8A8 f -> throw unsupported(name, scheme, FP8_REFUSAL);
            case QuantScheme.FourBit f -> throw unsupported(name, scheme, f.code().name() + " has no CUDA kernel yet (the CPU backend runs it); use w4a16-rtn on a card");
            default -> of(name, scheme.toString(), engine.create(name, weight, bias));
        };
    }

    /** The card's format for a linear the engine built (a scheme at load, or a quantized checkpoint's layer). */
    static CudaFormat of(String name, String scheme, Linear built) {
        return switch (built) {
            case LlmInt8Linear l when l.fpColumns().length > 0 ->
                    throw unsupported(name, scheme, "fp32 copies of calibrated outlier columns have no kernel; quantize with llm-int8:fp=dequant");
            case LlmInt8Linear l -> new Int8(WeightPacking.int8Channel(l.weights()), l.threshold());
            case W8A8DynamicLinear l when l.weights().layout().perRowOnly() ->
                    new Int8(WeightPacking.int8Channel(l.weights()), Float.POSITIVE_INFINITY);
            case W8A8DynamicLinear l -> new W8A8Groups(WeightPacking.int8Groups(l.weights()));
            case Int4GroupLinear l when l.permutation() != null ->
                    throw unsupported(name, scheme, "act-order (a column permutation) has no kernel; quantize without act-order");
            case Int4GroupLinear l -> new W4A16(WeightPacking.int4Groups(l.weights()));
            case Fp8Linear l -> throw unsupported(name, scheme, FP8_REFUSAL);
            case Fp8W8A8Linear l -> throw unsupported(name, scheme, FP8_REFUSAL);
            default -> throw unsupported(name, scheme, built.getClass().getSimpleName() + " has no CUDA kernel");
        };
    }

    /** The CPU kernels (engine Fp8Linear / Fp8W8A8Linear) are the reference a card kernel will be checked against. */
    String FP8_REFUSAL = "FP8 has no CUDA kernel yet (the CPU backend runs it); use w8a8-dynamic or bf16 on a card";

    /** A quantized checkpoint's layer, by the engine's loader; empty when the store holds it dense. */
    static Optional<CudaFormat> fromStore(String name, int out, int in, float[] bias, LinearFactory engine) {
        return engine.fromStore(name, out, in, bias).map(l -> of(name, l.scheme(), l));
    }

    private static IllegalArgumentException unsupported(String name, Object scheme, String why) {
        return new IllegalArgumentException(name + ": " + scheme + " cannot run on a CUDA card: " + why);
    }
}
