package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API primitives the decoder is built from: dot products, norms, element-wise ops.
 * The MemorySegment variants want native segments only (see KernelMemory: one heap segment
 * seen by the Vector API anywhere in the JVM makes every segment kernel several times slower).
 */
public final class VectorMath {
    public static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.length() * 16));
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorMath() {}

    // lane i <-> lane i ^ h: adding a vector to its swap halves the distinct partial sums
    private static final VectorShuffle<Float> SWAP1 = swap(1), SWAP2 = swap(2), SWAP4 = swap(4), SWAP8 = swap(8);

    private static VectorShuffle<Float> swap(int h) {
        return h < F.length() ? VectorShuffle.fromOp(F, i -> i ^ h) : VectorShuffle.iota(F, 0, 1, true);
    }

    /**
     * The sum of v's lanes by a fixed pairwise tree. reduceLanes(ADD) leaves the order open and
     * it does differ (sequential when interpreted, a tree when compiled), so results would
     * depend on JIT timing; this order is the same everywhere.
     */
    public static float sumLanes(FloatVector v) {
        int n = F.length();
        if (n > 8) v = v.add(v.rearrange(SWAP8));
        if (n > 4) v = v.add(v.rearrange(SWAP4));
        if (n > 2) v = v.add(v.rearrange(SWAP2));
        if (n > 1) v = v.add(v.rearrange(SWAP1));
        return v.lane(0);
    }

    /**
     * sumLanes of the F.length() lanes stored at a[off..] (the same tree, so the same bits), for
     * the end of a big kernel: there C2 stops inlining (NodeCountInliningCutoff, even under
     * CompileCommand=inline), and a vector handed to an out-of-line sumLanes is boxed, ~100 bytes
     * per call (w4a16 decode allocated 0.5-0.8 GB/s so, JFR); a vector stored with intoArray and
     * summed from the array allocates nothing whether or not this call is inlined. Overwrites a.
     */
    public static float sumLanes(float[] a, int off) {
        for (int h = F.length() / 2; h >= 1; h /= 2)
            for (int i = 0; i < h; i++) a[off + i] = a[off + i] + a[off + i + h];
        return a[off];
    }

    /** Scratch for a kernel's totals: room for the lanes of that many vectors (sumLanes(float[], int), addLaneSums). */
    public static float[] lanes(int vectors) {
        return new float[vectors * F.length()];
    }

    /** dst[d + k] += sumLanes(lanes, (first + k) * F.length()) for k < count: a kernel's totals, stored with intoArray. */
    public static void addLaneSums(float[] lanes, int first, int count, float[] dst, int d) {
        for (int k = 0; k < count; k++) dst[d + k] += sumLanes(lanes, (first + k) * F.length());
    }

    /** A tile's totals: dst[d + r * dStride + c] += sumLanes(lanes, (4r + c) * F.length()), r < rows, c < 4. */
    public static void addTileSums(float[] lanes, int rows, float[] dst, int d, int dStride) {
        for (int r = 0; r < rows; r++) addLaneSums(lanes, 4 * r, 4, dst, d + r * dStride);
    }

    /** sum_i a[ao+i] * b[bo+i], four accumulators to hide FMA latency. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int L = F.length(), i = 0;
        for (; i <= n - 4 * L; i += 4 * L) {
            s0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), s0);
            s1 = FloatVector.fromArray(F, a, ao + i + L).fma(FloatVector.fromArray(F, b, bo + i + L), s1);
            s2 = FloatVector.fromArray(F, a, ao + i + 2 * L).fma(FloatVector.fromArray(F, b, bo + i + 2 * L), s2);
            s3 = FloatVector.fromArray(F, a, ao + i + 3 * L).fma(FloatVector.fromArray(F, b, bo + i + 3 * L), s3);
        }
        for (; i <= n - L; i += L) s0 = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), s0);
        float sum = sumLanes(s0.add(s1).add(s2.add(s3)));
        for (; i < n; i++) sum += a[ao + i] * b[bo + i];
        return sum;
    }

    /**
     * BF16 lanes are the top half of an f32: widen to int, shift left 16, reinterpret. The shift is
     * called on a static IntVector, not on the Vector that convertShape returns: C2 on 512-bit
     * AVX-512 could resolve that virtual Vector.lanewise(op, long) to a float vector's and die in
     * vectorSupport.cpp ("LSHIFT: float", issue 11 item 27); IntVector.lanewise has int lanes only.
     */
    static FloatVector bf16(MemorySegment w, long byteOff) {
        IntVector wide = (IntVector) ShortVector.fromMemorySegment(S, w, byteOff, LE).convertShape(VectorOperators.S2I, I, 0);
        IntVector bits = wide.lanewise(VectorOperators.LSHL, 16);
        return bits.reinterpretAsFloats();
    }

    /** F.length() little-endian IEEE halves at byte offset byteOff of w, as floats (see {@link #f16(ShortVector)}). */
    public static FloatVector f16(MemorySegment w, long byteOff) {
        return f16(ShortVector.fromMemorySegment(S, w, byteOff, LE));
    }

    /** F.length() IEEE halves at a[off..], as floats. */
    static FloatVector f16(short[] a, int off) {
        return f16(ShortVector.fromArray(S, a, off));
    }

    /**
     * IEEE half lanes widened to f32, exactly. The Vector API has no f16 lane conversion, so: a
     * normal half's exponent and mantissa shifted into an f32's place and rebiased by an integer
     * add (2^112 in the exponent), a subnormal one (exponent 0) converted from its integer mantissa
     * and scaled by 2^-24, Inf/NaN (exponent 31) given the f32's, the sign put back. Why not the
     * shifted bits times 2^112 in float (the conversion before h-avx2): for a subnormal half the
     * shifted bits are an f32 subnormal, and a multiply with a subnormal operand took a microcode
     * assist; Q8_0's one-row kernel at 256 bits spent a sixth of its samples there with the
     * benchmark's random scales (about 6% subnormal halves). Here every float operand is normal.
     * Shifts on IntVector only, as in {@link #bf16}.
     */
    private static FloatVector f16(ShortVector halves) {
        IntVector h = (IntVector) halves.convertShape(VectorOperators.S2I, I, 0);
        IntVector magnitude = h.and(0x7FFF), shifted = magnitude.lanewise(VectorOperators.LSHL, 13);
        IntVector subnormal = ((FloatVector) magnitude.convert(VectorOperators.I2F, 0)).mul(0x1p-24f).reinterpretAsInts();
        IntVector bits = shifted.add(0x38000000)
                .blend(subnormal, magnitude.compare(VectorOperators.LT, 0x400))
                .blend(shifted.or(0x7F800000), magnitude.compare(VectorOperators.GE, 0x7C00));
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    /** Dot of a BF16 row (byte offset off) with x, converted in registers (reads 2 bytes per weight). */
    public static float dotBF16(MemorySegment w, long off, float[] x, int xo, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = bf16(w, off + 2L * i).fma(FloatVector.fromArray(F, x, xo + i), s0);
            s1 = bf16(w, off + 2L * (i + L)).fma(FloatVector.fromArray(F, x, xo + i + L), s1);
        }
        for (; i <= n - L; i += L) s0 = bf16(w, off + 2L * i).fma(FloatVector.fromArray(F, x, xo + i), s0);
        float sum = sumLanes(s0.add(s1));
        for (; i < n; i++) {
            short b = w.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE), off + 2L * i);
            sum += Float.intBitsToFloat((b & 0xFFFF) << 16) * x[xo + i];
        }
        return sum;
    }

    /** Decodes n BF16 values at byte offset off into dst[0..n). */
    public static void decodeBF16(MemorySegment w, long off, float[] dst, int n) {
        decodeBF16(w, off, dst, 0, n);
    }

    /** Decodes n BF16 values at byte offset off into dst[dstOff..dstOff+n). */
    public static void decodeBF16(MemorySegment w, long off, float[] dst, int dstOff, int n) {
        Tensor.decodeBf16(w, off, dst, dstOff, n);
    }

    /** Decodes n BF16 values at byte offset off into little-endian f32 at byte offset dstOff of dst. */
    public static void decodeBF16(MemorySegment w, long off, MemorySegment dst, long dstOff, int n) {
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L) bf16(w, off + 2L * i).intoMemorySegment(dst, dstOff + 4L * i, LE);
        for (; i < n; i++) {
            short b = w.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE), off + 2L * i);
            dst.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE), dstOff + 4L * i, Float.intBitsToFloat((b & 0xFFFF) << 16));
        }
    }

    /** out = x * weight / rms(x), one row of n starting at xo. */
    public static void rmsnorm(float[] out, int oo, float[] x, int xo, float[] weight, int n, float eps) {
        float ss = dot(x, xo, x, xo, n);
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L)
            FloatVector.fromArray(F, x, xo + i).mul(inv).mul(FloatVector.fromArray(F, weight, i)).intoArray(out, oo + i);
        for (; i < n; i++) out[oo + i] = x[xo + i] * inv * weight[i];
    }

    /** a[i] += b[i] for n elements. */
    public static void addInPlace(float[] a, int ao, float[] b, int bo, int n) {
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L)
            FloatVector.fromArray(F, a, ao + i).add(FloatVector.fromArray(F, b, bo + i)).intoArray(a, ao + i);
        for (; i < n; i++) a[ao + i] += b[bo + i];
    }

    /** a[i] += s * b[i] for n elements. */
    public static void axpy(float[] a, int ao, float s, float[] b, int bo, int n) {
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L)
            FloatVector.fromArray(F, b, bo + i).fma(FloatVector.broadcast(F, s), FloatVector.fromArray(F, a, ao + i)).intoArray(a, ao + i);
        for (; i < n; i++) a[ao + i] += s * b[bo + i];
    }

    /**
     * scores[t] = scale * dot(q[qo..qo+dims), k[rows[t] + add ..]) for t in [0, n): the attention
     * scores of one head. Four positions at a time share each q vector load; each dot is one
     * accumulator in d order, its lanes added by {@link #sumLanes}, then the scalar tail.
     */
    public static void dotRows(float[] q, int qo, float[] k, int[] rows, int add, int n, int dims, float scale, float[] scores) {
        int L = F.length(), full = dims - dims % L, t = 0;
        for (; t + 4 <= n; t += 4) {
            int r0 = rows[t] + add, r1 = rows[t + 1] + add, r2 = rows[t + 2] + add, r3 = rows[t + 3] + add;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < full; d += L) {
                FloatVector qv = FloatVector.fromArray(F, q, qo + d);
                a0 = FloatVector.fromArray(F, k, r0 + d).fma(qv, a0);
                a1 = FloatVector.fromArray(F, k, r1 + d).fma(qv, a1);
                a2 = FloatVector.fromArray(F, k, r2 + d).fma(qv, a2);
                a3 = FloatVector.fromArray(F, k, r3 + d).fma(qv, a3);
            }
            scores[t] = dotTail(q, qo, k, r0, full, dims, sumLanes(a0)) * scale;
            scores[t + 1] = dotTail(q, qo, k, r1, full, dims, sumLanes(a1)) * scale;
            scores[t + 2] = dotTail(q, qo, k, r2, full, dims, sumLanes(a2)) * scale;
            scores[t + 3] = dotTail(q, qo, k, r3, full, dims, sumLanes(a3)) * scale;
        }
        for (; t < n; t++) {
            int r = rows[t] + add;
            FloatVector a = FloatVector.zero(F);
            for (int d = 0; d < full; d += L) a = FloatVector.fromArray(F, k, r + d).fma(FloatVector.fromArray(F, q, qo + d), a);
            scores[t] = dotTail(q, qo, k, r, full, dims, sumLanes(a)) * scale;
        }
    }

    private static float dotTail(float[] q, int qo, float[] k, int r, int from, int dims, float s) {
        for (int d = from; d < dims; d++) s += q[qo + d] * k[r + d];
        return s;
    }

    /**
     * out[oo + d] = sum over t in [0, n) of w[t] * v[rows[t] + add + d], for d in [0, dims): the
     * attention's weighted sum of value rows. Summed in t order with one fma per term, the same
     * bits as n {@link #axpy} calls into zeros, but with up to four vectors of out held in
     * registers across all t instead of loaded and stored for every row.
     */
    public static void weightedRows(float[] out, int oo, float[] w, int n, float[] v, int[] rows, int add, int dims) {
        int L = F.length(), d = 0;
        for (; d <= dims - 4 * L; d += 4 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int t = 0; t < n; t++) {
                FloatVector s = FloatVector.broadcast(F, w[t]);
                int r = rows[t] + add + d;
                a0 = FloatVector.fromArray(F, v, r).fma(s, a0);
                a1 = FloatVector.fromArray(F, v, r + L).fma(s, a1);
                a2 = FloatVector.fromArray(F, v, r + 2 * L).fma(s, a2);
                a3 = FloatVector.fromArray(F, v, r + 3 * L).fma(s, a3);
            }
            a0.intoArray(out, oo + d);
            a1.intoArray(out, oo + d + L);
            a2.intoArray(out, oo + d + 2 * L);
            a3.intoArray(out, oo + d + 3 * L);
        }
        for (; d <= dims - L; d += L) {
            FloatVector a = FloatVector.zero(F);
            for (int t = 0; t < n; t++) a = FloatVector.fromArray(F, v, rows[t] + add + d).fma(FloatVector.broadcast(F, w[t]), a);
            a.intoArray(out, oo + d);
        }
        for (; d < dims; d++) {
            float a = 0f;
            for (int t = 0; t < n; t++) a += w[t] * v[rows[t] + add + d];
            out[oo + d] = a;
        }
    }

    /**
     * {@link #dotRows} over keys stored as IEEE halves, widened in registers: the same order of
     * operations, so the scores are those of dotRows over the widened keys.
     */
    public static void dotRowsF16(float[] q, int qo, short[] k, int[] rows, int add, int n, int dims, float scale, float[] scores) {
        int L = F.length(), full = dims - dims % L, t = 0;
        for (; t + 4 <= n; t += 4) {
            int r0 = rows[t] + add, r1 = rows[t + 1] + add, r2 = rows[t + 2] + add, r3 = rows[t + 3] + add;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < full; d += L) {
                FloatVector qv = FloatVector.fromArray(F, q, qo + d);
                a0 = f16(k, r0 + d).fma(qv, a0);
                a1 = f16(k, r1 + d).fma(qv, a1);
                a2 = f16(k, r2 + d).fma(qv, a2);
                a3 = f16(k, r3 + d).fma(qv, a3);
            }
            scores[t] = dotTailF16(q, qo, k, r0, full, dims, sumLanes(a0)) * scale;
            scores[t + 1] = dotTailF16(q, qo, k, r1, full, dims, sumLanes(a1)) * scale;
            scores[t + 2] = dotTailF16(q, qo, k, r2, full, dims, sumLanes(a2)) * scale;
            scores[t + 3] = dotTailF16(q, qo, k, r3, full, dims, sumLanes(a3)) * scale;
        }
        for (; t < n; t++) {
            int r = rows[t] + add;
            FloatVector a = FloatVector.zero(F);
            for (int d = 0; d < full; d += L) a = f16(k, r + d).fma(FloatVector.fromArray(F, q, qo + d), a);
            scores[t] = dotTailF16(q, qo, k, r, full, dims, sumLanes(a)) * scale;
        }
    }

    private static float dotTailF16(float[] q, int qo, short[] k, int r, int from, int dims, float s) {
        for (int d = from; d < dims; d++) s += q[qo + d] * Float.float16ToFloat(k[r + d]);
        return s;
    }

    /** {@link #weightedRows} over values stored as IEEE halves, widened in registers (the same order of operations). */
    public static void weightedRowsF16(float[] out, int oo, float[] w, int n, short[] v, int[] rows, int add, int dims) {
        int L = F.length(), d = 0;
        for (; d <= dims - 4 * L; d += 4 * L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int t = 0; t < n; t++) {
                FloatVector s = FloatVector.broadcast(F, w[t]);
                int r = rows[t] + add + d;
                a0 = f16(v, r).fma(s, a0);
                a1 = f16(v, r + L).fma(s, a1);
                a2 = f16(v, r + 2 * L).fma(s, a2);
                a3 = f16(v, r + 3 * L).fma(s, a3);
            }
            a0.intoArray(out, oo + d);
            a1.intoArray(out, oo + d + L);
            a2.intoArray(out, oo + d + 2 * L);
            a3.intoArray(out, oo + d + 3 * L);
        }
        for (; d <= dims - L; d += L) {
            FloatVector a = FloatVector.zero(F);
            for (int t = 0; t < n; t++) a = f16(v, rows[t] + add + d).fma(FloatVector.broadcast(F, w[t]), a);
            a.intoArray(out, oo + d);
        }
        for (; d < dims; d++) {
            float a = 0f;
            for (int t = 0; t < n; t++) a += w[t] * Float.float16ToFloat(v[rows[t] + add + d]);
            out[oo + d] = a;
        }
    }

    /** gate[i] = silu(gate[i]) * up[i]  (SwiGLU), silu(x) = x / (1 + e^-x). */
    public static void siluGate(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    /** In-place softmax over x[off..off+n). */
    public static void softmax(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        float sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < n; i++) x[off + i] *= inv;
    }
}
