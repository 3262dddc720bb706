package dev.quantflow.engine.gguf.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufTensorInfo;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The q6_k quantizer: its blocks decoded by an independent float64 decoder ({@link KQuantReference})
 * are the weights to the format's resolution, every code is the nearest one under its stored
 * scale, the kernel's rows are those values; and on llama.cpp's files it writes llama.cpp's bytes.
 */
class Q6KQuantizerTest {
    /** Gaussian rows with outliers, a zero sub-block, a zero super-block, a constant one and a large-valued one. */
    static float[] matrix(int out, int in, long seed) {
        Random r = new Random(seed);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * (r.nextInt(40) == 0 ? 6 : 1) * 0.02);
        java.util.Arrays.fill(w, 16, 32, 0f);           // row 0, sub-block 1
        java.util.Arrays.fill(w, in, in + 256, 0f);     // row 1, super-block 0
        java.util.Arrays.fill(w, 2 * in, 2 * in + 256, -0.75f);
        for (int i = 2 * in + 256; i < 2 * in + 512; i++) w[i] *= 300;   // large weights: d a normal f16
        return w;
    }

    @Test
    void decodesToTheWeightsWithEachCodeTheNearestUnderItsStoredScale() {
        int out = 7, in = 768;
        float[] w = matrix(out, in, 3);
        byte[] q = Q6KQuantizer.quantize(new Tensor("w", DType.F32, new long[] {out, in}, MemorySegment.ofArray(w)));
        assertThat(q).hasSize(out * in / 256 * 210);
        double[] dec = KQuantReference.dequantize(GgmlType.Q6_K, q, (long) out * in);
        double err2 = 0, norm2 = 0;
        for (int b = 0; b < out * in / 256; b++) {
            double d = Float.float16ToFloat((short) (q[b * 210 + 208] & 0xFF | q[b * 210 + 209] << 8));
            for (int s = 0; s < 16; s++) {
                double step = Math.abs(d * q[b * 210 + 192 + s]);
                for (int i = 0; i < 16; i++) {
                    int e = b * 256 + s * 16 + i;
                    double x = w[e], got = dec[e];
                    err2 += (x - got) * (x - got);
                    norm2 += x * x;
                    if (step == 0) {
                        assertThat(got).as("weight %d", e).isZero();
                        continue;
                    }
                    // the nearest of the 64 levels d * sc * (-32..31) to x (ties either way)
                    double bestErr = Double.MAX_VALUE;
                    for (int c = -32; c <= 31; c++) bestErr = Math.min(bestErr, Math.abs(x - d * q[b * 210 + 192 + s] * c));
                    assertThat(Math.abs(x - got)).as("weight %d", e).isCloseTo(bestErr, Offset.offset(1e-6 * step));
                }
            }
        }
        // zero blocks decode to zero, the constant block to itself within the rounding of d * scale
        for (int i = 0; i < 256; i++) assertThat(dec[in + i]).isZero();
        for (int i = 16; i < 32; i++) assertThat(dec[i]).isZero();
        for (int i = 0; i < 256; i++) assertThat(dec[2 * in + i]).isCloseTo(-0.75, Offset.offset(0.75 * 0.01));
        // 6 bits on sub-blocks of 16 with 6-sigma outliers (x^2-weighted scale fit): relative RMS error measured 3.3%
        assertThat(Math.sqrt(err2 / norm2)).isLessThan(0.04);

        // the kernel's rows (the tied embedding's lookups) are these values; its matmul is the float64 one
        Q6_KLinear lin = new Q6_KLinear(MemorySegment.ofArray(q), out, in);
        float[] row = new float[in + 5];
        for (int o = 0; o < out; o++) {
            lin.decodeRow(o, row, 5);
            for (int i = 0; i < in; i++) assertThat((double) row[5 + i]).isCloseTo(dec[o * in + i], Offset.offset(1e-6 * Math.abs(dec[o * in + i])));
        }
        KQuantLinearTest.assertMatmul(lin, dec, KQuantLinearTest.randomX(3 * in, new Random(5)), 3);
        assertThat(lin.blocks()).isEqualTo(q);
    }

    @Test
    void refusesRowsThatAreNotWholeSuperBlocks() {
        assertThatThrownBy(() -> Q6_KLinear.quantize(new Tensor("w", DType.F32, new long[] {2, 64}, MemorySegment.ofArray(new float[128]))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of 256");
    }

    /**
     * llama.cpp made sotu6M-Q6_K.gguf from sotu6M-F32.gguf with llama-quantize (no importance
     * matrix: quantize_row_q6_K_ref): re-quantizing each F32 tensor gives its Q6_K tensor's bytes.
     */
    @Test
    void requantizedF32TensorsEqualLlamaCppsQ6KBlocks() {
        Path dir = SharedData.path("models/sotu6M-gguf");
        Path f32 = dir.resolve("sotu6M-F32.gguf"), q6 = dir.resolve("sotu6M-Q6_K.gguf");
        Assumptions.assumeTrue(Files.isRegularFile(f32) && Files.isRegularFile(q6), "needs " + f32 + " and " + q6);
        int tensors = 0;
        long blocks = 0, differing = 0;
        try (GgufFile a = GgufFile.open(f32); GgufFile b = GgufFile.open(q6)) {
            for (GgufTensorInfo t : b.tensors().values()) {
                if (t.type() != GgmlType.Q6_K) continue;
                GgufTensorInfo src = a.tensor(t.name());
                assertThat(src.type()).isEqualTo(GgmlType.F32);
                int in = (int) t.dims()[0], out = (int) (t.elementCount() / in);
                float[] w = a.toFloatArray(t.name());
                byte[] mine = Q6KQuantizer.quantize(new Tensor(t.name(), DType.F32, new long[] {out, in}, MemorySegment.ofArray(w)));
                byte[] theirs = b.tensorData(t.name()).toArray(ValueLayout.JAVA_BYTE);
                assertThat(mine).hasSameSizeAs(theirs);
                for (int k = 0; k < theirs.length / 210; k++) {
                    if (!java.util.Arrays.equals(mine, k * 210, (k + 1) * 210, theirs, k * 210, (k + 1) * 210)) differing++;
                }
                blocks += theirs.length / 210;
                tensors++;
            }
        }
        System.out.printf("q6_k vs llama.cpp: %d tensors, %d blocks, %d differing%n", tensors, blocks, differing);
        assertThat(tensors).isGreaterThan(0);
        assertThat(differing).isZero();
    }
}
