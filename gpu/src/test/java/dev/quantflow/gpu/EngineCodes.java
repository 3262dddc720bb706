package dev.quantflow.gpu;

import dev.quantflow.engine.quant.IntRange;
import dev.quantflow.engine.quant.QuantizedMatrix;
import dev.quantflow.engine.quant.RangeMethod;

/** Test weights in the kernels' formats, quantized by the engine's quantizer (as every real layer is). */
public final class EngineCodes {
    private EngineCodes() {}

    public static WeightPacking.Int8Channel int8PerChannel(float[] w, int out, int in) {
        return WeightPacking.int8Channel(QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX));
    }

    public static WeightPacking.Int8Groups int8Groups(float[] w, int out, int in, int group) {
        return WeightPacking.int8Groups(QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, group, RangeMethod.MIN_MAX));
    }

    public static WeightPacking.Int4Groups int4Groups(float[] w, int out, int in, int group) {
        return WeightPacking.int4Groups(QuantizedMatrix.quantize(w, out, in, IntRange.INT4_ASYM, group, RangeMethod.MIN_MAX));
    }
}
