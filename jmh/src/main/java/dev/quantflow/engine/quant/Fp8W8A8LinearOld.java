package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.Fp8Format;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;

/** Fp8W8A8Linear as it was before h-fast4 (row-major codes, one row at a time), kept for QuantMatMulBenchmark's before/after pair. */
public final class Fp8W8A8LinearOld implements Linear {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));

    
    private static final Fp8Format E4M3 = Fp8Format.E4M3;
    private final Fp8Matrix w;
    private final Fp8W8A8Linear.Act act;
    private final float inputScale;   // STATIC: the scale; TOKEN: an upper bound on max|x| (+inf: none)
    private final float[] bias;

    public Fp8W8A8LinearOld(Fp8Matrix w, Fp8W8A8Linear.Act act, float inputScale, float[] bias) {
        if (w.format() != E4M3) throw new IllegalArgumentException("FP8 W8A8 needs e4m3 weights, got " + w.format());
        if (act == Fp8W8A8Linear.Act.STATIC && !(inputScale > 0 && Float.isFinite(inputScale)))
            throw new IllegalArgumentException("a static FP8 input scale must be a positive number, got " + inputScale);
        this.w = w;
        this.act = act;
        this.inputScale = inputScale;
        this.bias = bias;
    }

    public Fp8Matrix weights() {
        return w;
    }

    public Fp8W8A8Linear.Act act() {
        return act;
    }

    public float inputScale() {
        return inputScale;
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
        return w.packedBytes() + (act == Fp8W8A8Linear.Act.STATIC ? 4 : 0) + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return new QuantScheme.Fp8W8A8(w.perChannel(), act).toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = w.rows(), in = w.cols();
        byte[] xq = new byte[rows * in];
        float[] xs = new float[rows];
        float tensorScale = switch (act) {
            case STATIC -> inputScale;
            case TENSOR -> Fp8Matrix.scaleFor(Int8Kernels.maxAbs(x, 0, rows * in), E4M3);
            case TOKEN -> 0f;
        };
        for (int r = 0; r < rows; r++) {
            xs[r] = act == Fp8W8A8Linear.Act.TOKEN ? Fp8Matrix.scaleFor(Math.min(Int8Kernels.maxAbs(x, r * in, in), inputScale), E4M3) : tensorScale;
            for (int i = 0; i < in; i++) xq[r * in + i] = E4M3.encode(x[r * in + i] / xs[r]);
        }
        byte[] wq = w.q();
        float[] ws = w.scales();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            for (int o = start; o < end; o++) {
                float b = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) y[r * out + o] = b + xs[r] * ws[o] * dotF8(E4M3, xq, r * in, wq, o * in, in);
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
