package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.compute.Fp8Kernels;
import dev.quantflow.engine.model.Fp8Format;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** FP8 linears and kernels against float64 on random inputs (ragged widths exercise the vector tails). */
class Fp8LinearTest {
    private static float[] gaussian(Random r, int n, double sd) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * sd);
        return a;
    }

    /** |w - dequant(w)| within half a step of the format at |w| (relative 2^-(m+1) for normals, absolute for subnormals). */
    @ParameterizedTest
    @CsvSource({"E4M3,true", "E4M3,false", "E5M2,true", "E5M2,false"})
    void weightsAreWithinHalfAStep(Fp8Format f, boolean perChannel) {
        int out = 13, in = 77;
        float[] w = gaussian(new Random(1), out * in, 0.05);
        w[5] = 3f;   // an outlier row 0 (per-tensor: sets everyone's scale)
        Fp8Matrix m = Fp8Matrix.quantize(w, out, in, f, perChannel);
        double rel = Math.pow(2, -(f.manBits + 1)), sub = Math.pow(2, 1 - f.bias - f.manBits) / 2;
        for (int o = 0; o < out; o++) {
            double maxAbs = 0;
            for (int i = 0; i < in; i++) maxAbs = Math.max(maxAbs, Math.abs(w[(perChannel ? o : 0) * in + i]));
            if (!perChannel) for (float v : w) maxAbs = Math.max(maxAbs, Math.abs(v));
            assertThat((double) m.scales()[o]).isCloseTo(maxAbs / f.max, org.assertj.core.data.Offset.offset(maxAbs / f.max * 1e-6));
            for (int i = 0; i < in; i++) {
                double x = w[o * in + i], err = Math.abs(m.dequantize(o, i) - x);
                assertThat(err).as("w[%d,%d]=%s", o, i, x).isLessThanOrEqualTo((rel * Math.abs(x) + sub * m.scales()[o]) * (1 + 1e-6));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"E4M3,true,1,128", "E4M3,false,3,77", "E5M2,true,5,67", "E5M2,false,1,200"})
    void weightOnlyMatchesFloat64(Fp8Format f, boolean perChannel, int rows, int in) {
        int out = 19;
        Random r = new Random(in * 31 + rows);
        float[] w = gaussian(r, out * in, 0.05), x = gaussian(r, rows * in, 1), bias = gaussian(r, out, 0.1);
        Fp8Linear l = new Fp8Linear(Fp8Matrix.quantize(w, out, in, f, perChannel), bias);
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        Fp8Matrix m = l.weights();
        for (int t = 0; t < rows; t++)
            for (int o = 0; o < out; o++) {
                double ref = bias[o], mag = Math.abs(bias[o]);
                for (int i = 0; i < in; i++) {
                    double p = (double) f.decode(m.q()[o * in + i]) * m.scales()[o] * x[t * in + i];
                    ref += p;
                    mag += Math.abs(p);
                }
                assertThat((double) y[t * out + o]).isCloseTo(ref, org.assertj.core.data.Offset.offset(mag * 1e-5 + 1e-7));
            }
        assertThat(l.weightBytes()).isEqualTo((long) out * in + 4L * (perChannel ? out : 1) + 4L * out);
        assertThat(l.scheme()).isEqualTo(new QuantScheme.Fp8(f, perChannel).toString());
    }

    @ParameterizedTest
    @CsvSource({"TOKEN,true,1,128", "TOKEN,true,4,77", "TENSOR,false,3,67", "STATIC,true,2,96"})
    void w8a8MatchesFloat64WithActivationsQuantizedAsSpecified(Fp8W8A8Linear.Act act, boolean perChannel, int rows, int in) {
        int out = 23;
        Random r = new Random(in + rows * 7);
        float[] w = gaussian(r, out * in, 0.05), x = gaussian(r, rows * in, 1);
        x[1] = 9f;   // an activation outlier in token 0
        float staticScale = 4f / 448f;   // clips the outlier: static scales saturate
        Fp8W8A8Linear l = new Fp8W8A8Linear(Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, perChannel), act, act == Fp8W8A8Linear.Act.STATIC ? staticScale : Float.POSITIVE_INFINITY, null);
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        Fp8Format e4 = Fp8Format.E4M3;
        double tensorMax = 0;
        for (float v : x) tensorMax = Math.max(tensorMax, Math.abs(v));
        Fp8Matrix m = l.weights();
        for (int t = 0; t < rows; t++) {
            double rowMax = 0;
            for (int i = 0; i < in; i++) rowMax = Math.max(rowMax, Math.abs(x[t * in + i]));
            float sx = switch (act) {
                case TOKEN -> (float) rowMax / 448f;
                case TENSOR -> (float) tensorMax / 448f;
                case STATIC -> staticScale;
            };
            for (int o = 0; o < out; o++) {
                double ref = 0, mag = 0, exact = 0;
                for (int i = 0; i < in; i++) {
                    double xq = e4.decode(e4.encode(x[t * in + i] / sx));
                    double p = xq * sx * m.dequantize(o, i);
                    ref += p;
                    mag += Math.abs(p);
                    exact += (double) x[t * in + i] * w[o * in + i];
                }
                assertThat((double) y[t * out + o]).isCloseTo(ref, org.assertj.core.data.Offset.offset(mag * 1e-5 + 1e-7));
                if (act != Fp8W8A8Linear.Act.STATIC) assertThat(Math.abs(ref - exact)).isLessThan(0.15 * mag + 1e-6);   // FP8 is close to the fp32 product
            }
        }
    }

    @Test
    void aRowsOutputDoesNotDependOnTheBatch() {
        int out = 17, in = 93, rows = 5;
        Random r = new Random(3);
        float[] w = gaussian(r, out * in, 0.05), x = gaussian(r, rows * in, 1);
        List<dev.quantflow.engine.compute.Linear> linears = List.of(new Fp8Linear(Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, true), null),
                new Fp8Linear(Fp8Matrix.quantize(w, out, in, Fp8Format.E5M2, false), null),
                new Fp8W8A8Linear(Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, true), Fp8W8A8Linear.Act.TOKEN, Float.POSITIVE_INFINITY, null),
                new FourBitLinear(FourBitMatrix.quantize(FourBitCode.NF4, w, out, in, 64, true), null),
                new FourBitLinear(FourBitMatrix.quantize(FourBitCode.FP4, w, out, in, 64, false), null));
        for (var l : linears) {
            float[] batch = new float[rows * out];
            l.forward(x, rows, batch);
            for (int t = 0; t < rows; t++) {
                float[] one = new float[out];
                l.forward(java.util.Arrays.copyOfRange(x, t * in, (t + 1) * in), 1, one);
                assertThat(java.util.Arrays.copyOfRange(batch, t * out, (t + 1) * out)).as("%s row %d", l.scheme(), t).isEqualTo(one);
            }
        }
    }

    @Test
    void theBitDecodeKernelAgreesWithTheTableOnEveryCode() {
        for (Fp8Format f : Fp8Format.values()) {
            int out = 8, in = 256;   // row j holds every code, rotated by j: the interleaved vector loop reads each code in each row
            byte[] codes = new byte[out * in];
            for (int j = 0; j < out; j++) for (int c = 0; c < in; c++) codes[j * in + c] = (byte) (c + 37 * j);
            byte[] w = dev.quantflow.engine.compute.Int8Kernels.interleave8(codes, out, in);
            float unit = Math.scalb(1f, 127 - f.bias);   // decoded codes are the value * 2^-(127 - bias)
            for (int j = 0; j < out; j++) {
                float[] dst = new float[in];
                Fp8Kernels.decodeInterleaved(f, w, j, out, in, unit, dst, 0);
                for (int c = 0; c < in; c++) {
                    float ref = f.decode(codes[j * in + c]);
                    if (Float.isFinite(ref)) assertThat(dst[c]).as("%s code %02x", f, codes[j * in + c] & 0xff).isEqualTo(ref);
                    assertThat(Fp8Kernels.nonFinite(f, codes[j * in + c])).isEqualTo(!Float.isFinite(ref));
                }
            }
            // one-hot dot products (times the kernels' activation and output factors) read every finite code through the vector loops
            for (int c = 0; c < 256; c++) {
                if (!Float.isFinite(f.decode((byte) c))) continue;
                float[] x = new float[in];
                x[c] = Fp8Kernels.X_SCALE;
                assertThat(Fp8Kernels.dotF8F32(f, codes, 0, x, 0, in) * Fp8Kernels.outScale(f)).isEqualTo(f.decode((byte) c));
                float[] dots = new float[out];
                Fp8Kernels.dotF8F32x8(f, w, 0, x, 0, 0, in, dots, 0, dev.quantflow.engine.compute.VectorMath.lanes(8));
                for (int j = 0; j < out; j++)
                    if (Float.isFinite(f.decode(codes[j * in + c]))) assertThat(dots[j] * Fp8Kernels.outScale(f)).isEqualTo(f.decode(codes[j * in + c]));
            }
        }
    }

    /** Odd shapes through the interleaved kernel: out % 8 leftover rows, a tail under a vector, two chunks; batches of 2..17 rows. */
    @ParameterizedTest
    @CsvSource({"E4M3,false,43,4133", "E5M2,true,16,2048", "E4M3,true,9,37", "W8A8,true,21,2100"})
    void oddShapesMatchFloat64AndTheirOneRowBits(String kind, boolean perChannel, int out, int in) {
        Random r = new Random(out * 13 + in);
        float[] w = gaussian(r, out * in, 0.05), bias = gaussian(r, out, 0.1);
        boolean w8a8 = kind.equals("W8A8");
        Fp8Format f = w8a8 ? Fp8Format.E4M3 : Fp8Format.valueOf(kind);
        Fp8Matrix m = Fp8Matrix.quantize(w, out, in, f, perChannel);
        dev.quantflow.engine.compute.Linear l = w8a8 ? new Fp8W8A8Linear(m, Fp8W8A8Linear.Act.TOKEN, Float.POSITIVE_INFINITY, bias) : new Fp8Linear(m, bias);
        assertThat(w8a8 ? ((Fp8W8A8Linear) l).weights().q() : ((Fp8Linear) l).weights().q()).isEqualTo(m.q());
        for (int rows : new int[] {2, 17}) {
            float[] x = gaussian(r, rows * in, 1), y = new float[rows * out];
            l.forward(x, rows, y);
            for (int t = 0; t < rows; t++) {
                float[] one = new float[out];
                l.forward(java.util.Arrays.copyOfRange(x, t * in, (t + 1) * in), 1, one);
                assertThat(java.util.Arrays.copyOfRange(y, t * out, (t + 1) * out)).as("row %d of %d", t, rows).isEqualTo(one);
                double sx = 1;
                if (w8a8) {
                    double max = 0;
                    for (int i = 0; i < in; i++) max = Math.max(max, Math.abs(x[t * in + i]));
                    sx = (float) max / 448f;
                }
                for (int o = 0; o < out; o++) {
                    double ref = bias[o], mag = Math.abs(bias[o]);
                    for (int i = 0; i < in; i++) {
                        double xi = w8a8 ? f.decode(f.encode(x[t * in + i] / (float) sx)) * sx : x[t * in + i];
                        double p = (double) m.dequantize(o, i) * xi;
                        ref += p;
                        mag += Math.abs(p);
                    }
                    assertThat((double) one[o]).isCloseTo(ref, org.assertj.core.data.Offset.offset(mag * 1e-5 + 1e-7));
                }
            }
        }
    }

    @Test
    void aNonFiniteWeightCodeIsRefused() {
        byte[] q = new byte[4 * 8];
        q[13] = (byte) 0xFF;   // e4m3's NaN: the two-op decode would read it as -480
        assertThatThrownBy(() -> new Fp8Linear(new Fp8Matrix(Fp8Format.E4M3, 4, 8, q, new float[] {1, 1, 1, 1}, true), null)).hasMessageContaining("1,5 is a non-finite code (0xff)");
    }

    @Test
    void schemesParseAndPrintCanonically() {
        assertThat(QuantScheme.parse("fp8").toString()).isEqualTo("fp8:format=e4m3,scale=channel");
        assertThat(QuantScheme.parse("fp8-w8a16:format=e5m2,scale=tensor")).isEqualTo(new QuantScheme.Fp8(Fp8Format.E5M2, false));
        assertThat(QuantScheme.parse("fp8-w8a8").toString()).isEqualTo("fp8-w8a8");
        assertThat(QuantScheme.parse("fp8-w8a8:act=static,scale=tensor").toString()).isEqualTo("fp8-w8a8:act=static,scale=tensor");
        assertThat(QuantScheme.parse("fp8-w8a8:act=static").needsCalibration()).isTrue();
        for (String s : List.of("fp8", "fp8:format=e5m2,scale=tensor", "fp8-w8a8:act=tensor")) assertThat(QuantScheme.parse(QuantScheme.parse(s).toString())).isEqualTo(QuantScheme.parse(s));
        assertThatThrownBy(() -> QuantScheme.parse("fp8:format=e2m5")).hasMessageContaining("format must be one of [e4m3, e5m2]");
        assertThatThrownBy(() -> QuantScheme.parse("fp8-w8a8:act=group")).hasMessageContaining("act must be one of [token, tensor, static]");
        assertThatThrownBy(() -> QuantScheme.parse("fp8:scale=group")).hasMessageContaining("scale must be channel or tensor");
        assertThatThrownBy(() -> QuantizedModels.calibrationFree("fp8-w8a8:act=static")).hasMessageContaining("needs calibration");
    }
}
