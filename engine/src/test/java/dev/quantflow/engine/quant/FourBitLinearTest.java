package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.compute.FourBitKernels;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** NF4 and FP4 with and without double quantization against float64: code tables, the nested map, quantizer, kernel. */
class FourBitLinearTest {
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
        for (int c = 0; c < 16; c++) assertThat((double) FourBitCode.NF4.table()[c]).as("code %d", c).isCloseTo(v[c] / max, Offset.offset(2e-5));
    }

    @Test
    void theFp4ValuesAreBitsandbytesE2m1WithBias3() {
        // bitsandbytes' test_4bit_quant: code = sign e1 e2 p1; exp = 2 e1 + e2; exp 0: 0 or 0.0625, else 2^(-exp + 3 + 1) * (1.5 if p1)
        for (int c = 0; c < 16; c++) {
            int sign = c >> 3, e = (c >> 1) & 3, p = c & 1;
            double v = e == 0 ? (p == 0 ? 0 : 0.0625) : Math.pow(2, -e + 4) * (p == 1 ? 1.5 : 1.0);
            v = (sign == 1 ? -v : v) / 12;
            assertThat((double) FourBitCode.FP4.table()[c]).as("code %d", c).isCloseTo(v, Offset.offset(Math.abs(v) * 1e-7));
        }
        assertThat(FourBitCode.FP4.table()[3]).isEqualTo(1f);
        assertThat(FourBitCode.FP4.table()[11]).isEqualTo(-1f);
    }

    @Test
    void theNestedMapIsBitsandbytesDynamicMap() {
        // create_dynamic_map(signed=True): exponent i = 0..6, 2^i midpoints of linspace(0.1, 1, 2^i + 1) times 10^(i-6), both signs, 0, 1
        java.util.List<Double> ref = new java.util.ArrayList<>(java.util.List.of(0.0, 1.0));
        for (int i = 0; i < 7; i++) {
            int n = (1 << i) + 1;
            for (int k = 0; k < n - 1; k++) {
                double mid = 0.1 + (k + 0.5) * 0.9 / (n - 1);
                ref.add(mid * Math.pow(10, i - 6));
                ref.add(-mid * Math.pow(10, i - 6));
            }
        }
        java.util.Collections.sort(ref);
        float[] m = FourBitMatrix.DYNAMIC_MAP;
        assertThat(m).hasSize(256);
        for (int i = 0; i < 256; i++) assertThat((double) m[i]).as("entry %d", i).isCloseTo(ref.get(i), Offset.offset(Math.abs(ref.get(i)) * 3e-7));
        for (int i = 1; i < 256; i++) assertThat(m[i]).isGreaterThan(m[i - 1]);
    }

    @ParameterizedTest
    @CsvSource({"NF4,64,true", "NF4,64,false", "NF4,32,true", "FP4,64,true", "FP4,64,false"})
    void eachWeightIsTheNearestCodeOfItsScaledValue(FourBitCode code, int block, boolean dq) {
        int out = 40, in = 172;   // blocks span rows, as bitsandbytes flattens the tensor
        Random r = new Random(block);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05 * (1 + i % 7));
        for (int i = 0; i < 64; i++) w[5 * 64 + i] = 0;   // an all-zero block
        FourBitMatrix m = FourBitMatrix.quantize(code, w, out, in, block, dq);
        float[] v = code.table();
        assertThat(m.blocks()).isEqualTo((out * in + block - 1) / block);
        double[] absmax = new double[m.blocks()];
        double mean = 0;
        for (int b = 0; b < m.blocks(); b++) {
            for (int i = b * block; i < Math.min(w.length, (b + 1) * block); i++) absmax[b] = Math.max(absmax[b], Math.abs(w[i]));
            mean += absmax[b] / m.blocks();
            // bitsandbytes picks codes against the fp32 absmax (not the double-quantized one)
            for (int i = b * block; i < Math.min(w.length, (b + 1) * block); i++) {
                double x = absmax[b] == 0 ? Double.NaN : Math.max(-1, Math.min(1, w[i] / absmax[b]));
                if (Double.isNaN(x)) {
                    assertThat(m.q()[i]).isEqualTo((byte) 0);
                    continue;
                }
                double best = Double.POSITIVE_INFINITY;
                for (float c : v) best = Math.min(best, Math.abs(c - x));
                assertThat(Math.abs(v[m.q()[i]] - x)).as("weight %d", i).isCloseTo(best, Offset.offset(1e-6));
            }
        }
        if (dq) {
            assertThat((double) m.absmaxOffset()).isCloseTo(mean, Offset.offset(mean * 1e-6));
            for (int b = 0; b < m.blocks(); b++) {
                int k = b / FourBitMatrix.DQ_BLOCK;
                double s2 = 0;
                for (int j = k * FourBitMatrix.DQ_BLOCK; j < Math.min(m.blocks(), (k + 1) * FourBitMatrix.DQ_BLOCK); j++)
                    s2 = Math.max(s2, Math.abs(absmax[j] - m.absmaxOffset()));
                assertThat((double) m.absmaxScales()[k]).isCloseTo(s2, Offset.offset(s2 * 1e-6));
                double x = (absmax[b] - m.absmaxOffset()) / s2, best = Double.POSITIVE_INFINITY;
                for (float c : FourBitMatrix.DYNAMIC_MAP) best = Math.min(best, Math.abs(c - x));
                assertThat(Math.abs(FourBitMatrix.DYNAMIC_MAP[m.absmaxQ()[b] & 0xff] - x)).isCloseTo(best, Offset.offset(1e-6));
                assertThat(m.absmax(b)).isEqualTo(FourBitMatrix.DYNAMIC_MAP[m.absmaxQ()[b] & 0xff] * m.absmaxScales()[k] + m.absmaxOffset());
            }
        } else {
            for (int b = 0; b < m.blocks(); b++) assertThat((double) m.absmax(b)).isEqualTo(absmax[b]);
        }
        long nb = m.blocks();
        assertThat(m.packedBytes()).isEqualTo((out * in + 1) / 2 + (dq ? nb + 4L * ((nb + 255) / 256) + 4 : 4L * nb));
    }

    @ParameterizedTest
    @CsvSource({"NF4,1,128,true", "NF4,3,172,true", "NF4,2,172,false", "NF4,1,67,true", "FP4,1,128,true", "FP4,3,172,false", "FP4,2,67,true",
            "NF4,5,172,true", "FP4,6,300,false"})
    void kernelMatchesFloat64(FourBitCode code, int rows, int in, boolean dq) {
        int out = rows >= 5 ? 70 : 21;   // 70: several panels of the batched path, the last one partial
        Random r = new Random(rows * 100 + in);
        float[] w = new float[out * in], x = new float[rows * in], bias = new float[out];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < out; i++) bias[i] = (float) r.nextGaussian();
        FourBitLinear l = new FourBitLinear(FourBitMatrix.quantize(code, w, out, in, 64, dq), bias);
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        FourBitMatrix m = l.weights();
        for (int t = 0; t < rows; t++)
            for (int o = 0; o < out; o++) {
                double ref = bias[o], mag = Math.abs(bias[o]);
                for (int i = 0; i < in; i++) {
                    long k = (long) o * in + i;
                    double p = (double) code.table()[m.q()[(int) k]] * m.absmax((int) (k / 64)) * x[t * in + i];
                    ref += p;
                    mag += Math.abs(p);
                }
                assertThat((double) y[t * out + o]).isCloseTo(ref, Offset.offset(mag * 1e-5 + 1e-6));
            }
        String name = code.schemeName();
        assertThat(l.scheme()).isEqualTo(dq ? name + ":block=64" : name + ":block=64,double-quant=false");
    }

    @ParameterizedTest
    @CsvSource({"NF4", "FP4"})
    void theVectorCodebookLookupAgreesWithTheTableForEveryCode(FourBitCode code) {
        int out = 11, in = 67;   // a padded last group, a tail under a vector
        byte[] codes = new byte[out * in];
        for (int i = 0; i < codes.length; i++) codes[i] = (byte) ((i * 7 + 3) % 16);
        int[] p = FourBitKernels.pack(codes, out, in);
        assertThat(FourBitKernels.unpack(p, out, in)).isEqualTo(codes);
        for (int o = 0; o < out; o++) {
            float[] dst = new float[in];
            FourBitKernels.decode(FourBitKernels.tableVectors(code.table()), code.table(), p, FourBitKernels.index(o, 0, out, in), 4 * (o % 8), 0.5f, dst, 0, in);
            for (int i = 0; i < in; i++) assertThat(dst[i]).isEqualTo(code.table()[codes[o * in + i]] * 0.5f);
        }
    }

    @Test
    void thePackedLayoutHoldsEightRowsPerIntColumnByColumnChunkMajor() {
        int out = 13, in = 2048 + 96;   // two chunks, a padded second group
        byte[] codes = new byte[out * in];
        Random r = new Random(5);
        for (int i = 0; i < codes.length; i++) codes[i] = (byte) r.nextInt(16);
        int[] p = FourBitKernels.pack(codes, out, in);
        assertThat(p).hasSize(2 * in);
        for (int o = 0; o < out; o++)
            for (int c = 0; c < in; c++) {
                int at = c < 2048 ? (o / 8) * 2048 + c : 2 * 2048 + (o / 8) * 96 + c - 2048;   // chunk 0: groups x 2048 ints, chunk 1: groups x 96
                assertThat(FourBitKernels.index(o, c, out, in)).isEqualTo(at);
                assertThat((p[at] >>> (4 * (o % 8))) & 15).isEqualTo((int) codes[o * in + c]);
            }
        for (int c = 0; c < in; c++) assertThat(p[FourBitKernels.index(8, c, out, in)] >>> 20).as("padding rows 13..15").isZero();
    }

    /**
     * The eight-row kernel against the same sum over the decoded rows (FourBitKernels.chunkedDot,
     * the order of the batched path): equal bits, on shapes it takes (several chunks, out % 8 rows,
     * blocks of 32 to 2048) and ones it does not (in not a multiple of the block).
     */
    @ParameterizedTest
    @CsvSource({"NF4,21,4096,64,true", "NF4,16,5632,64,true", "FP4,9,2048,32,false", "NF4,8,2048,2048,true", "FP4,24,640,128,true", "NF4,5,172,64,true"})
    void theEightRowKernelSumsAsTheDecodedRow(FourBitCode code, int out, int in, int block, boolean dq) {
        Random r = new Random(out * 7 + in);
        float[] w = new float[out * in], x = new float[in], bias = new float[out];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05 * (1 + i % 5));
        for (int i = 0; i < in; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < out; i++) bias[i] = (float) r.nextGaussian();
        FourBitMatrix m = FourBitMatrix.quantize(code, w, out, in, block, dq);
        FourBitLinear l = new FourBitLinear(m, bias);
        assertThat(l.weights().q()).isEqualTo(m.q());
        float[] y = new float[out];
        l.forward(x, 1, y);
        for (int o = 0; o < out; o++) {
            float[] row = new float[in];
            for (int i = 0; i < in; i++) row[i] = m.dequantize(o, i);
            assertThat(y[o]).as("row %d", o).isEqualTo(bias[o] + FourBitKernels.chunkedDot(row, 0, x, 0, in));
        }
        // and a batch of 3 gives each row the bits it has alone
        float[] xs = new float[3 * in], ys = new float[3 * out];
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        System.arraycopy(x, 0, xs, in, in);
        l.forward(xs, 3, ys);
        assertThat(java.util.Arrays.copyOfRange(ys, out, 2 * out)).isEqualTo(y);
    }

    /** Sum over the block of (w - dequantized)^2 in float64. */
    private static double blockError(FourBitMatrix m, float[] w, int b) {
        double e = 0;
        for (int i = b * m.blockSize(); i < Math.min(w.length, (b + 1) * m.blockSize()); i++) {
            double d = w[i] - (double) m.dequantize(i / m.cols(), i % m.cols());
            e += d * d;
        }
        return e;
    }

    private static float[] heavyTailed(int n, long seed) {
        Random r = new Random(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float) (r.nextGaussian() * 0.05 * (i % 29 == 0 ? 4 : 1));   // a few large weights per block
        for (int i = 0; i < 64; i++) w[3 * 64 + i] = 0;   // an all-zero block
        return w;
    }

    @ParameterizedTest
    @CsvSource({"NF4,64", "NF4,32", "FP4,64"})
    void mseScalesNeverRaiseABlocksSquaredErrorAboveAbsmax(FourBitCode code, int block) {
        int out = 40, in = 172;   // blocks straddle rows
        float[] w = heavyTailed(out * in, block + 1);
        FourBitMatrix abs = FourBitMatrix.quantize(code, w, out, in, block, false), mse = FourBitMatrix.quantize(code, w, out, in, block, false, true);
        double totalAbs = 0, totalMse = 0;
        int better = 0;
        for (int b = 0; b < mse.blocks(); b++) {
            double ea = blockError(abs, w, b), em = blockError(mse, w, b);
            assertThat(em).as("block %d", b).isLessThanOrEqualTo(ea);
            if (em < ea) better++;
            totalAbs += ea;
            totalMse += em;
            // the stored scale is a shrunk absmax, and every weight the nearest code of its scaled value (float64)
            assertThat(mse.absmax(b)).isBetween(abs.absmax(b) * 0.699f, abs.absmax(b));
            for (int i = b * block; i < Math.min(w.length, (b + 1) * block) && mse.absmax(b) > 0; i++) {
                double x = Math.max(-1, Math.min(1, w[i] / (double) mse.absmax(b))), best = Double.POSITIVE_INFINITY;
                for (float c : code.table()) best = Math.min(best, Math.abs(c - x));
                assertThat(Math.abs(code.table()[mse.q()[i]] - x)).isCloseTo(best, Offset.offset(1e-6));
            }
        }
        assertThat(better).isGreaterThan(mse.blocks() / 2);
        assertThat(totalMse).isLessThan(totalAbs * 0.95);
        assertThat(mse.packedBytes()).isEqualTo(abs.packedBytes());
    }

    @ParameterizedTest
    @CsvSource({"NF4,64", "FP4,64", "NF4,32"})
    void mseScalesWithDoubleQuantizationPickCodesAgainstTheStoredScale(FourBitCode code, int block) {
        int out = 48, in = 128;
        float[] w = heavyTailed(out * in, block + 7);
        FourBitMatrix abs = FourBitMatrix.quantize(code, w, out, in, block, true), mse = FourBitMatrix.quantize(code, w, out, in, block, true, true);
        assertThat(mse.doubleQuant()).isTrue();
        double totalAbs = 0, totalMse = 0;
        for (int b = 0; b < mse.blocks(); b++) {
            totalAbs += blockError(abs, w, b);
            totalMse += blockError(mse, w, b);
            float s = mse.absmax(b);   // the dequantized second level, what the kernel multiplies by
            for (int i = b * block; i < (b + 1) * block; i++) {
                double x = Math.max(-1, Math.min(1, w[i] / (double) s)), best = Double.POSITIVE_INFINITY;
                for (float c : code.table()) best = Math.min(best, Math.abs(c - x));
                assertThat(Math.abs(code.table()[mse.q()[i]] - x)).as("weight %d", i).isCloseTo(best, Offset.offset(1e-6));
            }
        }
        assertThat(totalMse).isLessThan(totalAbs * 0.95);
        assertThat(mse.packedBytes()).isEqualTo(abs.packedBytes());
    }

    @ParameterizedTest
    @CsvSource({"NF4,false", "NF4,true", "FP4,true"})
    void gptqOnTheFourBitBlocksBeatsRoundToNearestOnLayerOutput(FourBitCode code, boolean mse) {
        int out = GptqTest.OUT, in = GptqTest.IN;
        float[] w = QuantLinearTest.rand(out * in, 21, 0.1f), x = GptqTest.correlatedInputs(22);
        InputStats stats = new InputStats(in, true, 0);
        stats.record(x, GptqTest.N);
        FourBitMatrix rtn = FourBitMatrix.quantize(code, w, out, in, 32, true, mse);
        FourBitMatrix g = Gptq.quantizeFourBit(w, out, in, stats.hessian(), code, 32, true, mse, Gptq.DEFAULT_DAMP);
        // the same stored scales (double-quantized, fixed before GPTQ); every weight a code of them; lower output error (float64)
        assertThat(g.absmaxQ()).isEqualTo(rtn.absmaxQ());
        assertThat(g.absmaxScales()).isEqualTo(rtn.absmaxScales());
        assertThat(g.absmaxOffset()).isEqualTo(rtn.absmaxOffset());
        float[] dg = new float[out * in], dr = new float[out * in];
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double ref = (double) code.table()[g.q()[o * in + i]] * g.absmax((o * in + i) / 32);
                dg[o * in + i] = g.dequantize(o, i);
                dr[o * in + i] = rtn.dequantize(o, i);
                assertThat((double) dg[o * in + i]).isCloseTo(ref, Offset.offset(1e-6 * Math.abs(ref) + 1e-12));
            }
        assertThat(GptqTest.outputError(w, dg, x)).isLessThan(GptqTest.outputError(w, dr, x) * 0.9);
    }

    @Test
    void schemeParsesTheBlockScaleAndWeightMethods() {
        QuantScheme s = QuantScheme.parse("nf4:scale=mse,weights=gptq");
        assertThat(s).isEqualTo(new QuantScheme.FourBit(FourBitCode.NF4, 64, true, true, true)).hasToString("nf4:block=64,scale=mse,weights=gptq");
        assertThat(s.needsCalibration()).isTrue();
        assertThat(QuantScheme.parse("nf4:scale=mse")).hasToString("nf4:block=64,scale=mse").matches(q -> !q.needsCalibration());
        assertThat(QuantScheme.parse(QuantScheme.parse("fp4:block=32,double-quant=false,scale=mse").toString())).isEqualTo(new QuantScheme.FourBit(FourBitCode.FP4, 32, false, true, false));
        assertThat(QuantScheme.parse("nf4:scale=absmax,weights=rtn")).isEqualTo(QuantScheme.parse("nf4"));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> QuantScheme.parse("nf4:scale=minmax")).hasMessageContaining("absmax or mse");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> QuantScheme.parse("nf4:weights=awq")).hasMessageContaining("rtn or gptq");
    }

    @Test
    void schemeParses() {
        assertThat(QuantScheme.parse("nf4")).isEqualTo(new QuantScheme.FourBit(FourBitCode.NF4, 64, true));
        assertThat(QuantScheme.parse("fp4")).isEqualTo(new QuantScheme.FourBit(FourBitCode.FP4, 64, true));
        assertThat(QuantScheme.parse("nf4:block=128,double-quant=false").toString()).isEqualTo("nf4:block=128,double-quant=false");
        assertThat(QuantScheme.parse("fp4:block=32").toString()).isEqualTo("fp4:block=32");
    }
}
