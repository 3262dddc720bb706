package dev.quantflow.engine.quant;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * FP8 checkpoints as vLLM serves them: NAME.weight stored as F8_E4M3 (out, in), NAME.weight_scale
 * (a scalar / [1] per tensor, or [out, 1] per channel, F32 or BF16), and NAME.input_scale ([1])
 * where activations are static. compressed-tensors (llm-compressor, "float-quantized"): the
 * config group's input_activations say dynamic per-token / per-tensor, static, or none
 * (weight-only). fbgemm_fp8: per-channel weights, dynamic per-token activations capped at
 * NAME.input_scale_ub (or activation_scale_ub). Layers not stored in FP8 (lm_head, "ignore") load dense.
 */
final class Fp8Checkpoint {
    private Fp8Checkpoint() {}

    /** How a layer's activations are handled: null act = weight-only. */
    private record Activations(Fp8W8A8Linear.Act act, float upperBound) {}

    static LinearFactory loader(WeightStore store, JsonNode qc) {
        Activations a = qc.path("quant_method").asText().equals("fbgemm_fp8")
                ? new Activations(Fp8W8A8Linear.Act.TOKEN, (float) qc.path("activation_scale_ub").asDouble(Double.POSITIVE_INFINITY))
                : compressedTensors(qc);
        return new LinearFactory() {
            @Override
            public Linear create(String name, Tensor weight, float[] bias) {
                if (weight.dtype() != DType.F8_E4M3 && weight.dtype() != DType.F8_E5M2) return new DenseLinear(weight, bias);
                Fp8Format f = Fp8Format.of(weight.dtype());
                Tensor scale = store.find(name + ".weight_scale").orElseThrow(() -> new ModelLoadException(Path.of("weights"),
                        name + ".weight is " + weight.dtype() + " but the checkpoint has no " + name + ".weight_scale"));
                float[] s = scale.toFloatArray();
                int out = weight.rows(), in = weight.cols();
                if (s.length != 1 && s.length != out)
                    throw new ModelLoadException(Path.of("weights"), name + ".weight_scale has " + s.length + " values; expected 1 (per tensor) or " + out + " (per channel)");
                Fp8Matrix m = Fp8Matrix.of(f, out, in, weight.data().toArray(ValueLayout.JAVA_BYTE), s);
                if (a.act() == null) return Fp8Linear.adopting(m, bias);
                if (f != Fp8Format.E4M3) throw new ModelLoadException(Path.of("weights"), name + ": FP8 W8A8 needs F8_E4M3 weights, got " + weight.dtype());
                float bound = switch (a.act()) {
                    case STATIC -> scalar(name + ".input_scale");
                    case TOKEN -> store.find(name + ".input_scale_ub").map(t -> t.toFloatArray()[0]).orElse(a.upperBound());
                    case TENSOR -> Float.POSITIVE_INFINITY;
                };
                return Fp8W8A8Linear.adopting(m, a.act(), bound, bias);
            }

            private float scalar(String n) {
                float[] v = store.find(n).orElseThrow(() -> new ModelLoadException(Path.of("weights"), "static FP8 activations need tensor " + n)).toFloatArray();
                if (v.length != 1) throw new ModelLoadException(Path.of("weights"), n + " has " + v.length + " values; a static FP8 input scale is one per tensor");
                return v[0];
            }
        };
    }

    private static Activations compressedTensors(JsonNode qc) {
        JsonNode groups = qc.path("config_groups");
        if (groups.size() != 1)
            throw new ModelLoadException(Path.of("config.json"), "compressed-tensors: one config group supported, got " + groups.size());
        JsonNode g = groups.elements().next();
        JsonNode w = g.path("weights");
        if (!w.path("type").asText().equals("float") || w.path("num_bits").asInt() != 8)
            throw new ModelLoadException(Path.of("config.json"), "compressed-tensors: only FP8 weights (type float, num_bits 8) are supported, got type "
                    + w.path("type").asText() + " num_bits " + w.path("num_bits").asInt());
        JsonNode in = g.path("input_activations");
        if (in.isMissingNode() || in.isNull()) return new Activations(null, 0f);
        if (!in.path("type").asText().equals("float") || in.path("num_bits").asInt() != 8)
            throw new ModelLoadException(Path.of("config.json"), "compressed-tensors: input_activations must be FP8 (type float, num_bits 8) or absent");
        if (!in.path("dynamic").asBoolean(false)) return new Activations(Fp8W8A8Linear.Act.STATIC, 0f);
        String strategy = in.path("strategy").asText("token");
        return switch (strategy) {
            case "token" -> new Activations(Fp8W8A8Linear.Act.TOKEN, Float.POSITIVE_INFINITY);
            case "tensor" -> new Activations(Fp8W8A8Linear.Act.TENSOR, Float.POSITIVE_INFINITY);
            default -> throw new ModelLoadException(Path.of("config.json"), "compressed-tensors: dynamic activation strategy '" + strategy + "' is not supported (token, tensor)");
        };
    }
}
