package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every quantized linear against a float64 reference of the math it claims to do (same codes and
 * scales): fp32 accumulation error only, bounded relative to sum |w x|.
 */
class QuantLinearTest {
    static float[] rand(int n, long seed, float sd) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian() * sd;
        return v;
    }

    /** |y - ref| <= 1e-5 * sum |terms| + 1e-6 (fp32 summation of n terms). */
    static void assertClose(float[] y, double[] ref, double[] absSum) {
        for (int i = 0; i < y.length; i++) assertThat(Math.abs(y[i] - ref[i])).as("y[%d]", i).isLessThanOrEqualTo(2e-5 * absSum[i] + 1e-6);
    }

    /** y = x W^T in float64 for a dequantized W. */
    static double[][] reference(float[] wDeq, int out, int in, float[] x, int rows, float[] bias) {
        double[] y = new double[rows * out], s = new double[rows * out];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double acc = bias == null ? 0 : bias[o], abs = 0;
                for (int i = 0; i < in; i++) {
                    acc += (double) wDeq[o * in + i] * x[r * in + i];
                    abs += Math.abs((double) wDeq[o * in + i] * x[r * in + i]);
                }
                y[r * out + o] = acc;
                s[r * out + o] = abs;
            }
        return new double[][] {y, s};
    }

    @Test
    void int8DotProductsAreExact() {
        Random r = new Random(1);
        for (int n : new int[] {1, 15, 16, 33, 172, 1000}) {
            byte[] a = new byte[n + 3], b = new byte[n + 5];
            r.nextBytes(a);
            r.nextBytes(b);
            for (int i = 0; i < a.length; i++) a[i] = (byte) Math.max(-127, a[i]);
            long expect = 0;
            for (int i = 0; i < n; i++) expect += a[i + 3] * b[i + 5];
            assertThat(Int8Kernels.dotI8(a, 3, b, 5, n)).isEqualTo((int) expect);
        }
    }

    @Test
    void fourRowInt8DotProductsAreExact() {
        Random r = new Random(14);
        for (int n : new int[] {1, 15, 31, 32, 33, 64, 172, 1000, 5632}) {
            int stride = n + 7;
            byte[] a = new byte[n + 3], w = new byte[4 * stride + 2];
            r.nextBytes(a);
            r.nextBytes(w);
            for (int i = 0; i < a.length; i++) a[i] = (byte) Math.max(-127, a[i]);
            for (int i = 0; i < w.length; i++) w[i] = (byte) Math.max(-127, w[i]);
            a[3] = -127;   // the extremes: two products of 127 * 127 summed in one int16 lane
            for (int j = 0; j < 4; j++) w[2 + j * stride] = (byte) (j % 2 == 0 ? -127 : 127);
            int[] dots = new int[5];
            Int8Kernels.dotI8x4(a, 3, w, 2, stride, n, dots, 1);
            for (int j = 0; j < 4; j++) {
                long expect = 0;
                for (int i = 0; i < n; i++) expect += a[i + 3] * w[2 + j * stride + i];
                assertThat(dots[1 + j]).as("n=%d row %d", n, j).isEqualTo((int) expect);
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"8,64", "16,172", "13,33", "7,100", "24,5", "9,2050", "1,16",
            "16,5632", "13,4224", "24,6144", "8,4160", "3,4096"})   // full groups, leftover rows, tail columns, fewer than 8 rows; several chunks moved in place (sub-blocks of 512, 128, 2048, 64 bytes) or copied (9 x 2050)
    void inPlaceInterleaveIsTheCopyingOne(int out, int in) {
        byte[] q = new byte[out * in];
        new Random(out * 31L + in).nextBytes(q);
        byte[] copied = Int8Kernels.interleave8(q, out, in), inPlace = q.clone();
        Int8Kernels.interleave8InPlace(inPlace, out, in);
        assertThat(inPlace).isEqualTo(copied);
        assertThat(Int8Kernels.deinterleave8(inPlace, out, in)).isEqualTo(q);
    }

    @Test
    void anAdoptingW8a16IsTheCopyingOne() {
        int out = 21, in = 70;
        float[] w = rand(out * in, 12, 0.1f), x = rand(3 * in, 13, 1f);
        QuantizedMatrix m = QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX);
        byte[] rowMajor = m.q().clone();
        Int8Linear copying = new Int8Linear(m, null);
        assertThat(m.q()).as("the copying constructor leaves m alone").isEqualTo(rowMajor);
        Int8Linear adopting = Int8Linear.adopting(m, null);
        assertThat(adopting.weights().q()).isEqualTo(rowMajor);
        for (int rows : new int[] {1, 3}) {
            float[] a = new float[rows * out], b = new float[rows * out];
            copying.forward(x, rows, a);
            adopting.forward(x, rows, b);
            assertThat(b).isEqualTo(a);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,64,64", "3,172,64", "1,64,172", "5,100,33", "1,7,1037", "16,13,2100", "6,5,19", "17,9,1030",
            "1,8,16", "1,17,2050", "1,24,5", "2,41,77", "1,8,8", "1,24,4200", "1,19,6001",
            "4,77,530", "9,72,1040", "2,96,64",
            "2,21,2100", "7,13,4200", "16,35,2090", "12,64,2048", "5,8,4111", "11,40,6150", "3,16,7"})   // batched: several panels, a partial one, tail columns; decode: 8-row groups, leftover rows, tail columns, several 2048-column chunks
    void w8a16MatchesItsDequantizedWeights(int rows, int out, int in) {
        float[] w = rand(out * in, 2, 0.1f), x = rand(rows * in, 3, 1f), bias = rand(out, 4, 0.1f);
        Int8Linear l = Int8Linear.quantize(w, out, in, bias);
        // the interleaved layout gives back the row-major codes it was built from
        assertThat(l.weights().q()).isEqualTo(QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX).q());
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        double[][] ref = reference(l.weights().dequantize(), out, in, x, rows, bias);
        assertClose(y, ref[0], ref[1]);
        assertThat(l.weightBytes()).isEqualTo((long) out * in + 4L * out + 4L * out);
    }

    /**
     * Batch invariance of w8a16's few-row kernel (each weight block widened once for a tile of
     * rows): every row of a 2..16-row call has the one-row call's bits, on groups of eight, leftover
     * rows (out % 8), tail columns (in % block) and several 2048-column chunks.
     */
    @ParameterizedTest
    @CsvSource({"64,64", "21,2100", "13,4200", "35,2090", "8,4111", "40,6150", "16,7", "96,172", "9,2048"})
    void w8a16RowsHaveTheOneRowBits(int out, int in) {
        float[] w = rand(out * in, out + in, 0.1f), bias = rand(out, 5, 0.1f);
        Int8Linear l = Int8Linear.quantize(w, out, in, bias);
        for (int rows = 2; rows <= 16; rows++) {
            float[] x = rand(rows * in, 100 + rows, 1f), y = new float[rows * out], one = new float[out], xr = new float[in];
            l.forward(x, rows, y);
            for (int r = 0; r < rows; r++) {
                System.arraycopy(x, r * in, xr, 0, in);
                l.forward(xr, 1, one);
                for (int o = 0; o < out; o++)
                    assertThat(Float.floatToRawIntBits(y[r * out + o])).as("rows=%d row %d out %d", rows, r, o).isEqualTo(Float.floatToRawIntBits(one[o]));
            }
        }
    }

    /**
     * dotI8x4Rows (activation codes as floats, fma chains) is the integer dot for 1..16 rows: random
     * codes, and the extremes (a weight row's products all 127 * 127, or all -127 * 127: a chain
     * longer than 1040 steps would leave float's exact integers) over rows long enough for several chains.
     */
    @Test
    void severalRowInt8DotProductsAreExact() {
        Random r = new Random(15);
        for (int n : new int[] {1, 15, 16, 33, 172, 2048, 16 * 1024 + 40, 40000}) {
            for (boolean extreme : new boolean[] {false, true}) {
                int stride = n + 5, xStride = n + 3, rows = 16;
                byte[] w = new byte[4 * stride + 2];
                float[] x = new float[rows * xStride + 1];
                for (int i = 0; i < w.length; i++) w[i] = extreme ? (byte) ((i / stride) % 2 == 0 ? 127 : -127) : (byte) (r.nextInt(255) - 127);
                for (int i = 0; i < x.length; i++) x[i] = extreme ? 127 : r.nextInt(255) - 127;
                for (int k = 1; k <= rows; k += n > 5000 ? 5 : 1) {
                    int[] dots = new int[1 + k * 6];
                    Int8Kernels.dotI8x4Rows(w, 2, stride, x, 1, xStride, k, n, dots, 1, 6, Int8Kernels.rowsScratch());
                    for (int row = 0; row < k; row++)
                        for (int j = 0; j < 4; j++) {
                            long expect = 0;
                            for (int i = 0; i < n; i++) expect += (long) x[1 + row * xStride + i] * w[2 + j * stride + i];
                            assertThat(dots[1 + row * 6 + j]).as("n=%d rows=%d row %d weight row %d extreme %s", n, k, row, j, extreme).isEqualTo((int) expect);
                        }
                }
            }
        }
    }

    /**
     * Batch invariance of w8a8-dynamic's few-row path (float tiles over exact integer chains):
     * every row of a 2..16-row call has the one-row call's bits, per channel and in groups (32, a
     * ragged 128), with out % 4 leftover rows and in % 16 tail columns.
     */
    @ParameterizedTest
    @CsvSource({"64,64,64", "21,2100,2100", "13,4200,128", "35,2090,32", "9,172,128", "40,6150,6150", "16,7,7"})
    void w8a8RowsHaveTheOneRowBits(int out, int in, int group) {
        float[] w = rand(out * in, out + in, 0.1f), bias = rand(out, 5, 0.1f);
        W8A8DynamicLinear l = W8A8DynamicLinear.quantize(w, out, in, group, bias, "w8a8-dynamic");
        for (int rows = 2; rows <= 16; rows++) {
            float[] x = rand(rows * in, 100 + rows, 1f), y = new float[rows * out], one = new float[out], xr = new float[in];
            l.forward(x, rows, y);
            for (int r = 0; r < rows; r++) {
                System.arraycopy(x, r * in, xr, 0, in);
                l.forward(xr, 1, one);
                for (int o = 0; o < out; o++)
                    assertThat(Float.floatToRawIntBits(y[r * out + o])).as("rows=%d row %d out %d", rows, r, o).isEqualTo(Float.floatToRawIntBits(one[o]));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"1,64,64,64", "4,48,172,172", "2,64,172,128", "3,32,200,32", "1,7,1037,1037", "16,13,2100,2100", "5,10,256,128", "1,6,96,32",
            "9,22,17000,17000", "17,9,300,32"})   // the few-row tiles over several exact chains; more rows (the int32 tile)
    void w8a8DynamicIsTheExactIntegerProductScaled(int rows, int out, int in, int group) {
        float[] w = rand(out * in, 5, 0.1f), x = rand(rows * in, 6, 1f);
        W8A8DynamicLinear l = W8A8DynamicLinear.quantize(w, out, in, group, null, "w8a8-dynamic");
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        ActivationQuant a = ActivationQuant.quantize(x, rows, new GroupLayout(in, group));
        QuantizedMatrix q = l.weights();
        GroupLayout g = q.layout();
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double ref = 0, abs = 0;
                for (int k = 0; k < g.groups(); k++) {
                    long dot = 0;
                    for (int i = g.start(k); i < g.end(k); i++) dot += (long) a.q()[r * in + i] * q.code(o, i);
                    double term = dot * (double) a.scales()[r * g.groups() + k] * q.scale(o, k);
                    ref += term;
                    abs += Math.abs(term);
                }
                assertThat(Math.abs(y[r * out + o] - ref)).isLessThanOrEqualTo(1e-5 * abs + 1e-6);
            }
    }

    @ParameterizedTest
    @CsvSource({"1,64,64,32", "1,32,172,128", "3,32,172,128", "1,16,200,48", "2,16,64,128", "1,40,256,128", "4,40,256,64",
            "1,7,2080,32", "1,13,1056,1056", "16,13,2100,64", "5,9,160,32", "1,3,64,64", "17,5,1030,1030",
            "1,9,4200,128", "1,6,4400,4400", "1,5,4224,96", "3,6,4400,4400",
            "3,70,300,64", "6,65,1030,128"})   // decode over several column chunks: whole groups, one group spanning chunks, 96-column groups; batched: several panels, a partial one
    void int4GroupMatchesItsDequantizedWeights(int rows, int out, int in, int group) {
        float[] w = rand(out * in, 7, 0.1f), x = rand(rows * in, 8, 1f), bias = rand(out, 9, 0.1f);
        Int4GroupLinear l = Int4GroupLinear.rtn(w, out, in, group, bias, "w4a16-rtn");
        QuantizedMatrix q = l.weights();
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        double[][] ref = reference(q.dequantize(), out, in, x, rows, bias);
        assertClose(y, ref[0], ref[1]);
        // int4: half a byte per weight (rows padded to 32 columns) plus a scale (4 bytes) and a zero point (1 byte) per group
        assertThat(l.weightBytes()).isEqualTo((long) out * ((in + 31) / 32 * 16) + 5L * out * q.groups() + 4L * out);
    }

    @Test
    void int4WithAnInputPermutationGathersFirst() {
        int out = 8, in = 64;
        float[] w = rand(out * in, 10, 0.1f), x = rand(in, 11, 1f);
        int[] perm = new int[in];
        for (int i = 0; i < in; i++) perm[i] = (i * 7) % in;
        QuantizedMatrix q = QuantizedMatrix.quantize(w, out, in, IntRange.INT4_ASYM, 32, RangeMethod.MIN_MAX);
        Int4GroupLinear l = new Int4GroupLinear(q, perm, null, "w4a16-gptq");
        float[] y = new float[out], xp = new float[in];
        for (int i = 0; i < in; i++) xp[i] = x[perm[i]];
        l.forward(x, 1, y);
        double[][] ref = reference(q.dequantize(), out, in, xp, 1, null);
        assertClose(y, ref[0], ref[1]);
    }

    @Test
    void w8a8TensorClipsAtTheCalibratedRange() {
        int out = 16, in = 32;
        float[] w = rand(out * in, 12, 0.1f), x = rand(in, 13, 1f);
        x[3] = 10f;   // beyond the calibrated max of 2: clipped to 2
        W8A8TensorLinear l = W8A8TensorLinear.quantize(w, out, in, 2f, null);
        float[] y = new float[out];
        l.forward(x, 1, y);
        float s = 2f / 127;
        float ws = l.weights().scale(0, 0);
        for (int o = 0; o < out; o++) {
            long dot = 0;
            for (int i = 0; i < in; i++) dot += (long) Math.max(-127, Math.min(127, Math.round(x[i] / s))) * l.weights().code(o, i);
            assertThat((double) y[o]).isCloseTo(dot * (double) s * ws, Offset.offset(1e-5));
        }
    }

    static double relError(Linear l, float[] w, int out, int in, float[] x, int rows) {
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        double[][] ref = reference(w, out, in, x, rows, null);
        double e = 0, n = 0;
        for (int i = 0; i < y.length; i++) {
            e += (y[i] - ref[0][i]) * (y[i] - ref[0][i]);
            n += ref[0][i] * ref[0][i];
        }
        return Math.sqrt(e / n);
    }
}
