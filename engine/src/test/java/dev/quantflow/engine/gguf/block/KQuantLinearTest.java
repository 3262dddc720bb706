package dev.quantflow.engine.gguf.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.gguf.GgufTensorInfo;
import dev.quantflow.engine.gguf.TensorDecoder;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Each k-quant kernel against a float64 dequantized matmul, on random blocks and on llama.cpp's files. */
class KQuantLinearTest {
    static final List<GgmlType> TYPES = List.of(GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    static Linear linear(GgmlType type, MemorySegment blocks, int out, int in) {
        return switch (type) {
            case Q2_K -> new Q2_KLinear(blocks, out, in);
            case Q3_K -> new Q3_KLinear(blocks, out, in);
            case Q4_K -> new Q4_KLinear(blocks, out, in);
            case Q5_K -> new Q5_KLinear(blocks, out, in);
            case Q6_K -> new Q6_KLinear(blocks, out, in);
            default -> throw new IllegalArgumentException(type.toString());
        };
    }

    /** Random bytes everywhere (so every quant and scale value occurs), with finite random f16 super-scales. */
    static byte[] randomBlocks(GgmlType type, int blocks, Random rnd) {
        byte[] b = new byte[blocks * type.bytesPerBlock];
        rnd.nextBytes(b);
        int[] halves = switch (type) {
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q4_K, Q5_K -> new int[] {0, 2};
            case Q6_K -> new int[] {208};
            default -> throw new IllegalArgumentException(type.toString());
        };
        for (int k = 0; k < blocks; k++)
            for (int h : halves) {
                short f = Float.floatToFloat16((float) (rnd.nextGaussian() * Math.pow(2, -4 - rnd.nextInt(8))));
                b[k * type.bytesPerBlock + h] = (byte) f;
                b[k * type.bytesPerBlock + h + 1] = (byte) (f >> 8);
            }
        return b;
    }

    /**
     * Asserts y = xq W^T against float64, within 1e-5 of sum |w xq| per output, where xq is x as
     * ggml's vec_dot_qN_K_q8_K sees it: rounded to Q8_K blocks ({@link #q8K}).
     */
    static void assertMatmul(Linear lin, double[] w, float[] input, int rows) {
        int out = lin.outFeatures(), in = lin.inFeatures();
        float[] y = new float[rows * out];
        lin.forward(input, rows, y);
        double[] x = q8K(input);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double ref = 0, mag = 0;
                for (int i = 0; i < in; i++) {
                    ref += w[o * in + i] * x[r * in + i];
                    mag += Math.abs(w[o * in + i] * x[r * in + i]);
                }
                assertThat(Math.abs(y[r * out + o] - ref)).as("%s row %d out %d", lin.scheme(), r, o).isLessThanOrEqualTo(1e-5 * mag + 1e-30);
            }
    }

    /**
     * ggml's quantize_row_q8_K, as values d * q in float64: per 256 values, m = the value of
     * largest magnitude (sign kept, first wins), iscale = -127 / m in fp32, q = min(127,
     * round-half-even(iscale * x)), d = 1 / iscale in fp32.
     */
    static double[] q8K(float[] x) {
        double[] out = new double[x.length];
        for (int b = 0; b < x.length / 256; b++) {
            float m = 0;
            for (int j = 0; j < 256; j++) if (Math.abs(x[256 * b + j]) > Math.abs(m)) m = x[256 * b + j];
            if (m == 0) continue;
            float iscale = -127f / m;
            double d = 1f / iscale;
            for (int j = 0; j < 256; j++) out[256 * b + j] = d * Math.min(127, Math.rint(iscale * x[256 * b + j]));
        }
        return out;
    }

    @Test
    void activationsAreRoundedToQ8KLikeGgml() {
        // a block whose largest magnitude is negative, -31.75: iscale = -127 / -31.75 = 4, d = 0.25 (all exact)
        float[] x = new float[512];
        x[0] = -31.75f;
        x[1] = 0.125f;   // 0.5 steps: a tie, to even: 0
        x[2] = 0.375f;   // 1.5 steps: 2
        x[3] = 0.625f;   // 2.5 steps: 2 (half away from zero would give 3)
        x[4] = 31.75f;   // the opposite extreme: +127
        x[5] = 1.1f;
        x[256] = 3f;     // the second block: its own scale, iscale = -127 / 3
        float[] q = Q8Activations.q8_K(x, 2, 256);
        assertThat(new float[] {q[0], q[1], q[2], q[3], q[4], q[6]}).containsExactly(-31.75f, 0f, 0.5f, 0.5f, 31.75f, 0f);
        assertThat(q[5]).isEqualTo(0.25f * 4);
        assertThat(q[256]).isEqualTo((1 / (-127f / 3f)) * -127);
        assertThat(Q8Activations.q8_K(new float[512], 2, 256)).containsOnly(0f);
    }

    static float[] randomX(int n, Random rnd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    @Test
    void kernelsMatchFloat64OnRandomBlocks() {
        Random rnd = new Random(13);
        for (GgmlType type : TYPES)
            for (int in : new int[] {256, 3 * 256})
                for (int rows : new int[] {1, 3, 17}) {
                    int out = 37;
                    byte[] bytes = randomBlocks(type, out * in / 256, rnd);
                    Linear lin = linear(type, MemorySegment.ofArray(bytes), out, in);
                    assertThat(lin.weightBytes()).isEqualTo(bytes.length);
                    assertMatmul(lin, KQuantReference.dequantize(type, bytes, (long) out * in), randomX(rows * in, rnd), rows);
                }
    }

    @Test
    void aRowGivesTheSameBitsAloneAndInABatch() {
        Random rnd = new Random(14);
        for (GgmlType type : TYPES) {
            int out = 19, in = 512, rows = 17;
            Linear lin = linear(type, MemorySegment.ofArray(randomBlocks(type, out * in / 256, rnd)), out, in);
            float[] x = randomX(rows * in, rnd), batch = new float[rows * out];
            lin.forward(x, rows, batch);
            for (int r = 0; r < rows; r++) {
                float[] one = new float[out], xr = new float[in];
                System.arraycopy(x, r * in, xr, 0, in);
                lin.forward(xr, 1, one);
                for (int o = 0; o < out; o++) assertThat(one[o]).as("%s row %d", type, r).isEqualTo(batch[r * out + o]);
            }
        }
    }

    @Test
    void tensorDecoderMatchesFloat64() {
        Random rnd = new Random(15);
        for (GgmlType type : TYPES) {
            byte[] bytes = randomBlocks(type, 9, rnd);
            float[] got = TensorDecoder.decode(type, MemorySegment.ofArray(bytes), 9 * 256);
            double[] ref = KQuantReference.dequantize(type, bytes, 9 * 256);
            for (int i = 0; i < ref.length; i++) assertThat((double) got[i]).as("%s weight %d", type, i).isCloseTo(ref[i], org.assertj.core.data.Offset.offset(1e-6 * Math.abs(ref[i]) + 1e-9));
        }
    }

    @Test
    void refusesShapesThatAreNotWholeSuperBlocks() {
        assertThatThrownBy(() -> new Q4_KLinear(MemorySegment.ofArray(new byte[144]), 1, 128)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of 256");
        assertThatThrownBy(() -> new Q6_KLinear(MemorySegment.ofArray(new byte[210]), 2, 256)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs 420 bytes");
    }

    @Test
    void kernelsMatchFloat64OnLlamaCppFiles() {
        Path dir = SharedData.path("models/sotu6M-gguf");
        Set<GgmlType> seen = EnumSet.noneOf(GgmlType.class);
        Random rnd = new Random(16);
        for (String name : new String[] {"sotu6M-Q4_K_M.gguf", "sotu6M-Q6_K.gguf"}) {
            Path file = dir.resolve(name);
            Assumptions.assumeTrue(Files.isRegularFile(file), "needs " + file);
            try (GgufFile g = GgufFile.open(file)) {
                for (GgufTensorInfo t : g.tensors().values()) {
                    if (!TYPES.contains(t.type())) continue;
                    long[] dims = t.dims();
                    int in = (int) dims[0], out = (int) dims[1];
                    byte[] bytes = g.tensorData(t.name()).toArray(ValueLayout.JAVA_BYTE);
                    double[] w = KQuantReference.dequantize(t.type(), bytes, t.elementCount());
                    float[] dec = g.toFloatArray(t.name());
                    for (int i = 0; i < w.length; i++) assertThat(Math.abs(dec[i] - w[i])).as("%s %d", t.name(), i).isLessThanOrEqualTo(1e-6 * Math.abs(w[i]) + 1e-9);
                    Linear lin = linear(t.type(), g.tensorData(t.name()), out, in);
                    assertMatmul(lin, w, randomX(3 * in, rnd), 3);
                    seen.add(t.type());
                }
            }
        }
        assertThat(seen).containsExactlyInAnyOrder(GgmlType.Q4_K, GgmlType.Q6_K);
    }
}
