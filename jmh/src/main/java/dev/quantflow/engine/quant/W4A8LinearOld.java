package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** W4A8Linear as it was before h-q4i (Int4GroupLinear's layout, int32 lanes, a reduction per row), kept for QuantMatMulBenchmark's before/after pair; in the engine's package for Int4GroupLinear's package-private accessors (one class path).
 *
 * W4A8 (ZeroQuant's int4 weights with int8 activations): the weights are an {@link Int4GroupLinear}
 * (asymmetric int4 codes, a scale and zero point per group of G input columns, its packed layout),
 * each activation row is quantized at run time to symmetric int8 with its own scale
 * ({@link ActivationQuant}, per token). Per group the int4 x int8 products accumulate exactly in
 * int32: y[r, o] = xs[r] * sum_g ws[o, g] * (sum_{i in g} q[o, i] xq[r, i] - z[o, g] * sum_{i in g} xq[r, i]).
 */
public final class W4A8LinearOld implements Linear {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));

    private final Int4GroupLinear w;
    private final String scheme;

    public W4A8LinearOld(Int4GroupLinear w, String scheme) {
        if (w.permutation() != null) throw new IllegalArgumentException("W4A8 takes int4 weights in input order (no act-order permutation)");
        this.w = w;
        this.scheme = scheme;
    }

    /** Round-to-nearest int4 of weight (out, in), asymmetric, groups of groupSize. */
    public static W4A8LinearOld rtn(float[] weight, int out, int in, int groupSize, float[] bias, String scheme) {
        return new W4A8LinearOld(Int4GroupLinear.rtn(weight, out, in, groupSize, bias, scheme), scheme);
    }

    /** The int4 codes (unsigned), scales and zero points. */
    public QuantizedMatrix weights() {
        return w.weights();
    }

    @Override
    public int inFeatures() {
        return w.inFeatures();
    }

    @Override
    public int outFeatures() {
        return w.outFeatures();
    }

    @Override
    public long weightBytes() {
        return w.weightBytes();
    }

    @Override
    public String scheme() {
        return scheme;
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int in = w.inFeatures(), padded = w.paddedCols();
        ActivationQuant a = ActivationQuant.quantize(x, rows, GroupLayout.perRow(in));
        GroupLayout g = w.layout();
        int ng = g.groups();
        byte[] xq = new byte[rows * padded];   // rows padded to whole blocks with zeros (the padded codes meet 0)
        int[] xsum = new int[rows * ng];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(a.q(), r * in, xq, r * padded, in);
            for (int k = 0; k < ng; k++) {
                int s = 0;
                for (int c = g.start(k); c < g.end(k); c++) s += xq[r * padded + c];
                xsum[r * ng + k] = s;
            }
        }
        int out = w.outFeatures();
        boolean vector = w.vectorizable();
        Parallel.range((out + 3) / 4, 4L * in * rows, (first, last) -> {   // whole interleaved groups of four weight rows
            float[] dots = new float[4];
            for (int o = 4 * first; o < Math.min(out, 4 * last); o += 4) {
                int n = Math.min(4, out - o);
                for (int r = 0; r < rows; r++) {
                    if (vector) rowsVector(xq, r * padded, xsum, r * ng, o, n, dots);
                    else for (int j = 0; j < n; j++) dots[j] = rowScalar(xq, r * padded, xsum, r * ng, o + j);
                    float[] bias = w.bias();
                    for (int j = 0; j < n; j++) y[r * out + o + j] = (bias == null ? 0f : bias[o + j]) + a.scales()[r] * dots[j];
                }
            }
        });
    }

    /**
     * dots[j] = sum_g ws * (q . xq - z * xsum) for weight rows o + j, j < n <= 4 (one interleaved
     * group of four); the int32 sums of a group are scaled into one float vector per row by one FMA.
     */
    private void rowsVector(byte[] xq, int xOff, int[] xsum, int sOff, int o, int n, float[] dots) {
        GroupLayout g = w.layout();
        int ng = g.groups();
        byte[] packed = w.packed();
        float[] scales = w.scales();
        byte[] zeros = w.zeros();
        int r0 = o, r1 = n > 1 ? o + 1 : r0, r2 = n > 2 ? o + 2 : r1, r3 = n > 3 ? o + 3 : r2;
        int p0 = w.offset(r0, 0), p1 = w.offset(r1, 0), p2 = w.offset(r2, 0), p3 = w.offset(r3, 0), step = 16 * n;
        FloatVector t0 = FloatVector.zero(F), t1 = t0, t2 = t0, t3 = t0;
        float c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f;
        IntVector zero = IntVector.zero(I);
        for (int k = 0; k < ng; k++) {
            int b0 = g.start(k) / 32, b1 = (g.end(k) + 31) / 32;
            IntVector a0 = zero, a1 = zero, a2 = zero, a3 = zero;
            for (int blk = b0; blk < b1; blk++) {
                for (int c = 0; c < 16; c += L) {
                    int at = blk * step + c;
                    IntVector xl = (IntVector) ByteVector.fromArray(B, xq, xOff + blk * 32 + c).convertShape(VectorOperators.B2I, I, 0);
                    IntVector xh = (IntVector) ByteVector.fromArray(B, xq, xOff + blk * 32 + 16 + c).convertShape(VectorOperators.B2I, I, 0);
                    a0 = nibbles(packed, p0 + at, xl, xh, a0);
                    a1 = nibbles(packed, p1 + at, xl, xh, a1);
                    a2 = nibbles(packed, p2 + at, xl, xh, a2);
                    a3 = nibbles(packed, p3 + at, xl, xh, a3);
                }
            }
            float s0 = scales[r0 * ng + k], s1 = scales[r1 * ng + k], s2 = scales[r2 * ng + k], s3 = scales[r3 * ng + k];
            t0 = ((FloatVector) a0.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, s0), t0);
            t1 = ((FloatVector) a1.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, s1), t1);
            t2 = ((FloatVector) a2.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, s2), t2);
            t3 = ((FloatVector) a3.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, s3), t3);
            int xs = xsum[sOff + k];
            c0 += s0 * zeros[r0 * ng + k] * xs;
            c1 += s1 * zeros[r1 * ng + k] * xs;
            c2 += s2 * zeros[r2 * ng + k] * xs;
            c3 += s3 * zeros[r3 * ng + k] * xs;
        }
        dots[0] = VectorMath.sumLanes(t0) - c0;
        dots[1] = VectorMath.sumLanes(t1) - c1;
        dots[2] = VectorMath.sumLanes(t2) - c2;
        dots[3] = VectorMath.sumLanes(t3) - c3;
    }

    /** acc + low nibbles of L packed bytes at off times xl + their high nibbles times xh, in int32. */
    private static IntVector nibbles(byte[] packed, int off, IntVector xl, IntVector xh, IntVector acc) {
        IntVector v = (IntVector) ByteVector.fromArray(B, packed, off).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
        return acc.add(v.and(0x0F).mul(xl)).add(v.lanewise(VectorOperators.LSHR, 4).mul(xh));
    }

    /** The same sum a code at a time: groups not of whole 32-column blocks, or vector shapes the kernel does not take. */
    private float rowScalar(byte[] xq, int xOff, int[] xsum, int sOff, int o) {
        GroupLayout g = w.layout();
        int ng = g.groups();
        float t = 0f;
        for (int k = 0; k < ng; k++) {
            int dot = 0;
            for (int c = g.start(k); c < g.end(k); c++) dot += w.code(o, c) * xq[xOff + c];
            t += w.scales()[o * ng + k] * (dot - w.zeros()[o * ng + k] * xsum[sOff + k]);
        }
        return t;
    }
}
