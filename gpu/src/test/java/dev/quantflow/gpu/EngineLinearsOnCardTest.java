package dev.quantflow.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.gpu.backend.CudaBackend;
import dev.quantflow.gpu.linear.CudaLinear;
import dev.quantflow.gpu.linear.CudaLinearFactory;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * On a card: every scheme's CUDA linear, built from the engine's codes, against the engine's own
 * linear of the same codes (the CPU is the reference), on random inputs and odd batch sizes.
 * Bounds: fp32 accumulation 1e-4 relative; int8 activations 2e-2 (a rounding tie may flip one
 * activation code between the CPU's and the card's quantizer). Skipped without a usable card.
 */
class EngineLinearsOnCardTest {
    private static final String NAME = "model.layers.0.mlp.up_proj";

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "bf16", "llm-int8", "w8a8-dynamic", "w8a8-dynamic:group=64", "w4a16-rtn:group=64", "w4a16-rtn:group=128"})
    void theCardComputesWhatTheEngineComputesFromTheSameCodes(String spec) {
        assumeTrue(new CudaBackend().unavailableReason().isEmpty(), "no usable CUDA card");
        int out = 192, in = 256;
        Random rnd = new Random(spec.hashCode());
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.05);
        float[] bias = new float[out];
        for (int i = 0; i < out; i++) bias[i] = (float) rnd.nextGaussian() * 0.1f;
        Tensor t = new Tensor("w", DType.F32, new long[] {out, in}, MemorySegment.ofArray(w));
        LinearFactory engine = QuantizedModels.calibrationFree(spec);
        Linear cpu = engine.create(NAME, t, bias);
        CudaContext ctx = CudaContext.open(0);   // one per card, kept by the runtime
        CudaLinear card = new CudaLinearFactory(ctx, QuantPlan.parse(spec, List.of()), engine).create(NAME, t, bias);
        for (int rows : new int[] {1, 3, 16, 37}) {
            float[] x = new float[rows * in];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] expected = new float[rows * out], actual = new float[rows * out];
            cpu.forward(x, rows, expected);
            card.forward(x, rows, actual);
            double bound = spec.startsWith("fp32") || spec.startsWith("bf16") || spec.startsWith("w4a16") ? 1e-4 : 2e-2;
            assertThat(relative(actual, expected)).as("%s, %d rows", spec, rows).isLessThanOrEqualTo(bound);
        }
        card.close();
    }

    private static double relative(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - (double) b[i]) * (a[i] - (double) b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));   // NaN stays NaN and fails
    }
}
