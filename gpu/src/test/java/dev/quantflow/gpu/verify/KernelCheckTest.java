package dev.quantflow.gpu.verify;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.gpu.CudaKernels.Path;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The GPU checker itself, run where there is no GPU: the fp32 Java rendering of the kernels passes
 * every check against the float64 reference, and implementations with typical kernel bugs fail.
 */
class KernelCheckTest {
    private static List<KernelCheck.Result> check(KernelOps ops) {
        return new KernelCheck(ops, true, 42, new PrintStream(new ByteArrayOutputStream())).run();
    }

    @Test
    void theJavaRenderingOfTheKernelsPassesEveryCheck() {
        List<KernelCheck.Result> r = check(new JavaKernelOps());
        assertThat(r).hasSizeGreaterThan(40);
        assertThat(r).filteredOn(x -> !x.ok()).isEmpty();
        assertThat(r).extracting(KernelCheck.Result::check).contains("quantize_rows", "quantize_groups", "outlier_columns", "quantize_masked", "llm_int8",
                "w8a8_per_channel", "w8a8_group", "w4a16", "dense_F32", "dense_BF16", "dense_F16", "embed_BF16", "rmsnorm", "rope", "attention",
                "silu_gate", "residual_add");
    }

    @Test
    void aDroppedTailColumnIsCaught() {
        KernelOps tailBug = new JavaKernelOps() {
            @Override
            public float[] llmInt8(float[] x, int M, Int8Channel w, float[] bias, float threshold, Path path) {
                float[] y = super.llmInt8(x, M, w, bias, threshold, path);
                if (w.out() % 64 != 0) for (int m = 0; m < M; m++) y[m * w.out() + w.out() - 1] = 0f;   // "forgot the tail tile"
                return y;
            }
        };
        assertThat(check(tailBug)).filteredOn(x -> !x.ok()).extracting(KernelCheck.Result::check).contains("llm_int8").doesNotContain("rmsnorm");
    }

    @Test
    void ignoredOutliersAndNaNAreCaught() {
        KernelOps noOutliers = new JavaKernelOps() {
            @Override
            public int[] outlierColumns(float[] x, int M, int K, float threshold) {
                return new int[0];
            }

            @Override
            public float[] attention(AttentionCase c) {
                float[] out = super.attention(c);
                out[out.length / 2] = Float.NaN;
                return out;
            }
        };
        List<KernelCheck.Result> failed = check(noOutliers).stream().filter(x -> !x.ok()).toList();
        assertThat(failed).extracting(KernelCheck.Result::check).contains("outlier_columns", "llm_int8", "attention");
    }

    @Test
    void anExceptionInAnImplementationIsAFailureNotACrash() {
        KernelOps throwing = new JavaKernelOps() {
            @Override
            public float[] rmsnorm(float[] x, float[] weight, int M, int D, float eps) {
                throw new IllegalStateException("qf_rmsnorm: 3 of 300 outputs never written");
            }
        };
        assertThat(check(throwing)).filteredOn(x -> !x.ok()).singleElement().satisfies(r -> assertThat(r.note()).contains("never written"));
    }
}
