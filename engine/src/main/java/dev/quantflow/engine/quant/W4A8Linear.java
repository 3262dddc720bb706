package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Int4x8Panels;
import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * W4A8 (ZeroQuant's int4 weights with int8 activations): asymmetric int4 codes with a scale and
 * zero point per group of G input columns, each activation row quantized at run time to
 * symmetric int8 with its own scale ({@link ActivationQuant}, per token). Per group the int4 x int8
 * products accumulate exactly in int32:
 * y[r, o] = xs[r] * sum_g ws[o, g] * (sum_{i in g} q[o, i] xq[r, i] - z[o, g] * sum_{i in g} xq[r, i]).
 *
 * <p>When groups are whole 32-column blocks (G % 32 == 0, G dividing the row), the weights are
 * repacked at construction into the int4 x int8 kernel's own layout ({@link Int4x8Panels}: panels
 * of rows in int16 lanes, per group the codes then the rows' scales and 8 - z) and the
 * Int4GroupLinear they came from is let go, so only that packed copy stays resident; the group
 * sum is computed as sum (q - 8) x + (8 - z) sum x, the same integer. Other shapes keep the
 * Int4GroupLinear's layout and its row kernel.
 */
public final class W4A8Linear implements Linear {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));

    private static final int P = Int4x8Panels.P;

    private final Int4GroupLinear w;      // the fallback layout; null when packed into panels
    private final String scheme;
    private final int out, in, blocksPerGroup;
    private final GroupLayout layout;
    private final float[] bias;
    private final long weightBytes;
    private final MemorySegment panels;   // the kernel's layout (a KernelMemory view), or null
    private final MemorySegment owner;

    public W4A8Linear(Int4GroupLinear w, String scheme) {
        if (w.permutation() != null) throw new IllegalArgumentException("W4A8 takes int4 weights in input order (no act-order permutation)");
        this.scheme = scheme;
        this.out = w.outFeatures();
        this.in = w.inFeatures();
        this.layout = w.layout();
        this.bias = w.bias();
        this.weightBytes = w.weightBytes();
        int g = layout.groupSize();
        if (g % Int4x8Panels.K == 0 && in % g == 0) {
            this.blocksPerGroup = g / Int4x8Panels.K;
            KernelMemory.View v = KernelMemory.weights(Int4x8Panels.panels(out) * panelBytes());
            this.panels = v.view();
            this.owner = v.owner();
            pack(w);
            this.w = null;
        } else {
            this.blocksPerGroup = 0;
            this.panels = this.owner = null;
            this.w = w;
        }
    }

    private long panelBytes() {
        return layout.groups() * Int4x8Panels.w4a8GroupBytes(blocksPerGroup);
    }

    /** Codes, scales and 8 - z into the panels (rows past out stay zero: scale 0). */
    private void pack(Int4GroupLinear w) {
        int ng = layout.groups();
        long pb = panelBytes(), gb = Int4x8Panels.w4a8GroupBytes(blocksPerGroup);
        float[] scales = w.scales();
        byte[] zeros = w.zeros();
        Parallel.range(Int4x8Panels.panels(out), (long) P * in, (first, last) -> {
            short[] codes = new short[(int) (gb - Int4x8Panels.W4A8_TAIL_BYTES) / 2];
            float[] s = new float[P];
            int[] zc = new int[P];
            for (int p = first; p < last; p++) {
                for (int k = 0; k < ng; k++) {
                    java.util.Arrays.fill(codes, (short) 0);
                    java.util.Arrays.fill(s, 0f);
                    java.util.Arrays.fill(zc, 0);
                    for (int j = 0; j < P && p * P + j < out; j++) {
                        int o = p * P + j, lane = Int4x8Panels.lane(j);
                        for (int b = 0; b < blocksPerGroup; b++) {
                            int c = layout.start(k) + b * Int4x8Panels.K;
                            for (int i = 0; i < 8; i++)
                                codes[(b * 8 + i) * P + lane] = Int4x8Panels.quad(w.code(o, c + 2 * i), w.code(o, c + 2 * i + 16), w.code(o, c + 2 * i + 1), w.code(o, c + 2 * i + 17));
                        }
                        s[j] = scales[o * ng + k];
                        zc[j] = 8 - zeros[o * ng + k];
                    }
                    long at = p * pb + k * gb, tail = at + gb - Int4x8Panels.W4A8_TAIL_BYTES;
                    MemorySegment.copy(codes, 0, panels, I16, at, codes.length);
                    MemorySegment.copy(s, 0, panels, F32, tail, P);
                    MemorySegment.copy(zc, 0, panels, I32, tail + 4L * P, P);
                }
            }
        });
    }

    /** Row o's code of column c in the panels. */
    private int packedCode(int o, int c) {
        int p = o / P, lane = Int4x8Panels.lane(o % P), k = c / layout.groupSize(), inGroup = c % layout.groupSize();
        int b = inGroup / Int4x8Panels.K, j = inGroup % Int4x8Panels.K, i = j % 16 / 2, nibble = (j % 2) * 2 + j / 16;
        long at = p * panelBytes() + k * Int4x8Panels.w4a8GroupBytes(blocksPerGroup) + ((long) (b * 8 + i) * P + lane) * 2;
        return panels.get(I16, at) >>> (4 * nibble) & 0xF;
    }

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Round-to-nearest int4 of weight (out, in), asymmetric, groups of groupSize. */
    public static W4A8Linear rtn(float[] weight, int out, int in, int groupSize, float[] bias, String scheme) {
        return new W4A8Linear(Int4GroupLinear.rtn(weight, out, in, groupSize, bias, scheme), scheme);
    }

    /** The int4 weights when held in Int4GroupLinear's layout (shapes the panels do not take); null when packed into panels. */
    Int4GroupLinear int4() {
        return w;
    }

    public QuantizedMatrix weights() {
        if (w != null) return w.weights();
        int ng = layout.groups();
        byte[] q = new byte[out * in];
        float[] scales = new float[out * ng];
        byte[] zeros = new byte[out * ng];
        for (int o = 0; o < out; o++) {
            for (int c = 0; c < in; c++) q[o * in + c] = (byte) packedCode(o, c);
            for (int k = 0; k < ng; k++) {
                long tail = o / P * panelBytes() + (k + 1) * Int4x8Panels.w4a8GroupBytes(blocksPerGroup) - Int4x8Panels.W4A8_TAIL_BYTES;
                scales[o * ng + k] = panels.get(F32, tail + 4L * (o % P));
                zeros[o * ng + k] = (byte) (8 - panels.get(I32, tail + 4L * P + 4L * (o % P)));
            }
        }
        return new QuantizedMatrix(IntRange.INT4_ASYM, out, in, layout, q, scales, zeros);
    }

    @Override
    public int inFeatures() {
        return in;
    }

    @Override
    public int outFeatures() {
        return out;
    }

    @Override
    public long weightBytes() {
        return weightBytes;
    }

    @Override
    public String scheme() {
        return scheme;
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        if (panels != null) {
            forwardPanels(x, rows, y);
            return;
        }
        int padded = w.paddedCols();
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

    /** The kernel's path: int8 rows, then every panel against every row (each panel's bytes stay in cache across the rows). */
    private void forwardPanels(float[] x, int rows, float[] y) {
        if (rows <= 0) return;
        ActivationQuant a = ActivationQuant.quantize(x, rows, GroupLayout.perRow(in));
        Int4x8Panels.Activations xa = Int4x8Panels.Activations.of(a.q(), rows, in / Int4x8Panels.K);
        long pb = panelBytes();
        float[] xs = a.scales();
        Parallel.range(Int4x8Panels.panels(out), (long) P * in * rows, (first, last) -> {
            for (int p = first; p < last; p++) {
                int n = Math.min(P, out - p * P);
                Int4x8Panels.w4a8(panels, p * pb, xa, blocksPerGroup, xs, 0, rows, y, out, p * P, n);
                if (bias != null) for (int r = 0; r < rows; r++) for (int j = 0; j < n; j++) y[r * out + p * P + j] += bias[p * P + j];
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
