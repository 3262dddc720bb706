package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.Fp8Format;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;

/** Fp8Linear as it was before h-fast4 (row-major codes, one row at a time), kept for QuantMatMulBenchmark's before/after pair. */
public final class Fp8LinearOld implements Linear {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));

    private final Fp8Matrix w;
    private final float[] bias;

    public Fp8LinearOld(Fp8Matrix w, float[] bias) {
        this.w = w;
        this.bias = bias;
    }

    public Fp8Matrix weights() {
        return w;
    }

    @Override
    public int inFeatures() {
        return w.cols();
    }

    @Override
    public int outFeatures() {
        return w.rows();
    }

    @Override
    public long weightBytes() {
        return w.packedBytes() + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return new QuantScheme.Fp8(w.format(), w.perChannel()).toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = w.rows(), in = w.cols();
        byte[] q = w.q();
        float[] scale = w.scales();
        // every row through the same kernel (the weight row stays in cache across the batch): a
        // request's output does not depend on what is batched with it
        Parallel.range(out, (long) in * rows, (start, end) -> {
            for (int o = start; o < end; o++) {
                float b = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) y[r * out + o] = b + scale[o] * dotF8F32(w.format(), q, o * in, x, r * in, in);
            }
        });
    }

    private static int shift(Fp8Format f) {
        return 23 - f.manBits;
    }

    private static float rebias(Fp8Format f) {
        return Math.scalb(1f, 127 - f.bias);
    }

    private static FloatVector decode(byte[] c, int off, int shift, float rebias) {
        IntVector i = (IntVector) ByteVector.fromArray(B, c, off).convertShape(VectorOperators.B2I, I, 0);
        IntVector bits = i.and(0x80).lanewise(VectorOperators.LSHL, 24).or(i.and(0x7F).lanewise(VectorOperators.LSHL, shift));
        return bits.reinterpretAsFloats().mul(rebias);
    }

    /** sum_i decode(w[wo+i]) * x[xo+i]. */
    static float dotF8F32(Fp8Format f, byte[] w, int wo, float[] x, int xo, int n) {
        int sh = shift(f);
        float rb = rebias(f);
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = decode(w, wo + i, sh, rb).fma(FloatVector.fromArray(F, x, xo + i), s0);
            s1 = decode(w, wo + i + L, sh, rb).fma(FloatVector.fromArray(F, x, xo + i + L), s1);
        }
        for (; i <= n - L; i += L) s0 = decode(w, wo + i, sh, rb).fma(FloatVector.fromArray(F, x, xo + i), s0);
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        float[] t = f.table();
        for (; i < n; i++) sum += t[w[wo + i] & 0xFF] * x[xo + i];
        return sum;
    }

    /** sum_i decode(a[ao+i]) * decode(b[bo+i]), both in format f. */
    static float dotF8(Fp8Format f, byte[] a, int ao, byte[] b, int bo, int n) {
        int sh = shift(f);
        float rb = rebias(f);
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = decode(a, ao + i, sh, rb).fma(decode(b, bo + i, sh, rb), s0);
            s1 = decode(a, ao + i + L, sh, rb).fma(decode(b, bo + i + L, sh, rb), s1);
        }
        for (; i <= n - L; i += L) s0 = decode(a, ao + i, sh, rb).fma(decode(b, bo + i, sh, rb), s0);
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        float[] t = f.table();
        for (; i < n; i++) sum += t[a[ao + i] & 0xFF] * t[b[bo + i] & 0xFF];
        return sum;
    }

}
