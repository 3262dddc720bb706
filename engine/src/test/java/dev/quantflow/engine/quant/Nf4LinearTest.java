package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.compute.Nf4Kernels;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** NF4 with and without double quantization against float64: code table, quantizer, kernel. */
class Nf4LinearTest {
    /** Phi(x) by numerically integrating the normal density (Simpson, fine steps): independent of any table. */
    private static double cdf(double x) {
        int n = 20000;
        double h = x / n, s = 0;
        for (int i = 0; i <= n; i++) {
            double t = i * h, f = Math.exp(-t * t / 2);
            s += (i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2) * f;
        }
        return 0.5 + s * h / 3 / Math.sqrt(2 * Math.PI);
    }

    private static double ppf(double p) {
        double lo = -10, hi = 10;
        for (int i = 0; i < 80; i++) {
            double mid = (lo + hi) / 2;
            if (cdf(mid) < p) lo = mid;
            else hi = mid;
        }
        return (lo + hi) / 2;
    }

    @Test
    void theCodeValuesAreQloraNormalQuantiles() {
        // QLoRA (bitsandbytes create_normal_map, offset 0.9677): 8 positive quantiles from linspace(offset, 0.5, 9),
        // 7 negative from linspace(offset, 0.5, 8), zero, all divided by the largest
        double offset = 0.9677083;
        double[] v = new double[16];
        for (int i = 0; i < 7; i++) v[i] = -ppf(offset - i * (offset - 0.5) / 7);
        v[7] = 0;
        for (int i = 0; i < 8; i++) v[15 - i] = ppf(offset - i * (offset - 0.5) / 8);
        double max = v[15];
        for (int c = 0; c < 16; c++) assertThat((double) Nf4Matrix.NF4[c]).as("code %d", c).isCloseTo(v[c] / max, Offset.offset(2e-5));
    }

    @ParameterizedTest
    @CsvSource({"64,true", "64,false", "32,true"})
    void eachWeightIsTheNearestCodeTimesItsBlockAbsmax(int block, boolean dq) {
        int out = 40, in = 172;   // blocks span rows, as bitsandbytes flattens the tensor
        Random r = new Random(block);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05 * (1 + i % 7));
        Nf4Matrix m = Nf4Matrix.quantize(w, out, in, block, dq);
        assertThat(m.blocks()).isEqualTo((out * in + block - 1) / block);
        for (int b = 0; b < m.blocks(); b++) {
            double absmax = 0;
            for (int i = b * block; i < Math.min(w.length, (b + 1) * block); i++) absmax = Math.max(absmax, Math.abs(w[i]));
            double tol = dq ? m.absmaxScales()[b / Nf4Matrix.DQ_BLOCK] / 2 * 1.0001 : 0;
            assertThat((double) m.absmax(b)).isCloseTo(absmax, Offset.offset(tol + 1e-9));
            for (int i = b * block; i < Math.min(w.length, (b + 1) * block); i++) {
                double x = w[i] / (double) m.absmax(b);
                double best = Double.POSITIVE_INFINITY;
                for (float c : Nf4Matrix.NF4) best = Math.min(best, Math.abs(c - x));
                assertThat(Math.abs(Nf4Matrix.NF4[m.q()[i]] - x)).isCloseTo(best, Offset.offset(1e-6));
            }
        }
        long nb = m.blocks();
        assertThat(m.packedBytes()).isEqualTo((out * in + 1) / 2 + (dq ? nb + 4L * ((nb + 255) / 256) + 4 : 4L * nb));
    }

    @ParameterizedTest
    @CsvSource({"1,128,true", "3,172,true", "2,172,false", "1,67,true"})
    void kernelMatchesFloat64(int rows, int in, boolean dq) {
        int out = 21;
        Random r = new Random(rows * 100 + in);
        float[] w = new float[out * in], x = new float[rows * in], bias = new float[out];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < out; i++) bias[i] = (float) r.nextGaussian();
        Nf4Linear l = new Nf4Linear(Nf4Matrix.quantize(w, out, in, 64, dq), bias);
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        Nf4Matrix m = l.weights();
        for (int t = 0; t < rows; t++)
            for (int o = 0; o < out; o++) {
                double ref = bias[o], mag = Math.abs(bias[o]);
                for (int i = 0; i < in; i++) {
                    long k = (long) o * in + i;
                    double p = (double) Nf4Matrix.NF4[m.q()[(int) k]] * m.absmax((int) (k / 64)) * x[t * in + i];
                    ref += p;
                    mag += Math.abs(p);
                }
                assertThat((double) y[t * out + o]).isCloseTo(ref, Offset.offset(mag * 1e-5 + 1e-6));
            }
        assertThat(l.scheme()).isEqualTo(dq ? "nf4:block=64" : "nf4:block=64,double-quant=false");
    }

    @Test
    void theVectorCodebookLookupAgreesWithTheTableForEveryCode() {
        byte[] codes = new byte[67];
        for (int i = 0; i < codes.length; i++) codes[i] = (byte) ((i * 7 + 3) % 16);
        float[] dst = new float[codes.length];
        Nf4Kernels.decode(Nf4Kernels.tableVectors(Nf4Matrix.NF4), Nf4Matrix.NF4, codes, 0, 0.5f, dst, 0, codes.length);
        for (int i = 0; i < codes.length; i++) assertThat(dst[i]).isEqualTo(Nf4Matrix.NF4[codes[i]] * 0.5f);
    }

    @Test
    void schemeParses() {
        assertThat(QuantScheme.parse("nf4")).isEqualTo(new QuantScheme.Nf4(64, true));
        assertThat(QuantScheme.parse("nf4:block=128,double-quant=false").toString()).isEqualTo("nf4:block=128,double-quant=false");
    }
}
