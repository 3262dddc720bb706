package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** DenseLinear against a float64 reference, and batch invariance: a row's output is bit-identical alone or in any batch. */
class DenseLinearTest {

    /** Random weights stored as dtype, plus their exact float values (after rounding to dtype). */
    record Weights(Tensor tensor, float[] values) {}

    static Weights weights(DType dtype, int out, int in, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[out * in];
        ByteBuffer buf = ByteBuffer.allocate(out * in * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++) {
            float f = (float) rnd.nextGaussian() * 0.05f;
            switch (dtype) {
                case F32 -> buf.putFloat(f);
                case BF16 -> {
                    short s = (short) (Float.floatToRawIntBits(f) >>> 16);
                    buf.putShort(s);
                    f = Float.intBitsToFloat((s & 0xFFFF) << 16);
                }
                case F16 -> {
                    short s = Float.floatToFloat16(f);
                    buf.putShort(s);
                    f = Float.float16ToFloat(s);
                }
                default -> throw new IllegalArgumentException(dtype.name());
            }
            v[i] = f;
        }
        return new Weights(new Tensor("w", dtype, new long[] {out, in}, MemorySegment.ofArray(buf.array())), v);
    }

    static float[] randoms(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    static float[] forward(Linear l, float[] x, int rows) {
        float[] y = new float[rows * l.outFeatures()];
        l.forward(x, rows, y);
        return y;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16", "F16"})
    void matchesFloat64ReferenceForOddShapes(DType dtype) {
        for (int[] shape : new int[][] {{37, 83}, {130, 256}, {5, 7}, {64, 64}, {40, 2100}}) {
            int out = shape[0], in = shape[1];
            Weights w = weights(dtype, out, in, out * 31L + in);
            float[] bias = randoms(out, 7);
            DenseLinear l = new DenseLinear(w.tensor(), bias);
            for (int rows : new int[] {1, 2, 3, 4, 5, 9, 11}) {
                float[] x = randoms(rows * in, rows);
                float[] y = forward(l, x, rows);
                for (int r = 0; r < rows; r++)
                    for (int o = 0; o < out; o++) {
                        double ref = bias[o], mag = Math.abs(bias[o]);
                        for (int i = 0; i < in; i++) {
                            ref += (double) w.values()[o * in + i] * x[r * in + i];
                            mag += Math.abs((double) w.values()[o * in + i] * x[r * in + i]);
                        }
                        assertThat((double) y[r * out + o]).as("%s %dx%d rows %d: y[%d][%d]", dtype, out, in, rows, r, o)
                                .isCloseTo(ref, Offset.offset(mag * 2e-6 + 1e-7));
                    }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16", "F16"})
    void eachRowIsBitIdenticalAloneOrInAnyBatch(DType dtype) {
        // large enough that batches are split over threads and over several blocks, in > PanelKernels.K_BLOCK: k-blocked
        int out = 203, in = 2117;
        DenseLinear l = new DenseLinear(weights(dtype, out, in, 3).tensor(), randoms(out, 4));
        float[] pool = randoms(13 * in, 5);
        float[][] alone = new float[13][];
        for (int r = 0; r < 13; r++) alone[r] = forward(l, Arrays.copyOfRange(pool, r * in, (r + 1) * in), 1);
        SplittableRandom rnd = new SplittableRandom(6);
        for (int trial = 0; trial < 40; trial++) {
            int rows = 1 + rnd.nextInt(13);
            int[] pick = new int[rows];
            float[] x = new float[rows * in];
            for (int r = 0; r < rows; r++) {
                pick[r] = rnd.nextInt(13);
                System.arraycopy(pool, pick[r] * in, x, r * in, in);
            }
            float[] y = forward(l, x, rows);
            for (int r = 0; r < rows; r++)
                assertThat(Arrays.copyOfRange(y, r * out, (r + 1) * out)).as("%s trial %d row %d of %d", dtype, trial, r, rows)
                        .containsExactly(alone[pick[r]]);
        }
    }

    @Test
    void bf16InRegistersEqualsDecodedF32() {
        // the single-row BF16 path widens in registers; the same weights given as F32 must give the same bits
        int out = 21, in = 45;
        Weights w = weights(DType.BF16, out, in, 8);
        DenseLinear bf16 = new DenseLinear(w.tensor(), null);
        DenseLinear f32 = DenseLinear.ofF32(w.values(), out, in, null);
        float[] x = randoms(in, 9);
        assertThat(forward(bf16, x, 1)).containsExactly(forward(f32, x, 1));
    }
}
