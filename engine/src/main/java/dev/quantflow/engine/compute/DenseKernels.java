package dev.quantflow.engine.compute;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register tiles behind DenseLinear: y[r][o] = b[o] + dot(W[o], x[r]) for a few rows r and
 * outputs o at once, so that one weight load feeds several multiply-adds.
 *
 * <p>Every dot is summed in one canonical order, whichever tile computes it: a single vector
 * accumulator over the full vectors of the row (fma in row order), the lanes added by
 * {@link VectorMath#sumLanes}, then the scalar tail in order, then the bias. A row's result thus
 * never depends on the rows batched with it, on the tile, on the thread split, or on whether the
 * JIT has compiled the code yet. Independent accumulators come from the tile (4 outputs or 4x2),
 * not from splitting one dot, which is what keeps the order fixed.
 *
 * <p>Weights are little-endian F32 (or BF16 for the single-row tiles) in a segment; row o of a
 * tile starts at byte off + o * stride.
 */
final class DenseKernels {
    private static final VectorSpecies<Float> F = VectorMath.F;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    private DenseKernels() {}

    private static FloatVector f32(MemorySegment w, long byteOff) {
        return FloatVector.fromMemorySegment(F, w, byteOff, LE);
    }

    /** The in % L trailing products of an F32 row, added one by one to s. */
    private static float tailF32(MemorySegment w, long off, float[] x, int xo, int from, int in, float s) {
        for (int i = from; i < in; i++) s += w.get(F32, off + 4L * i) * x[xo + i];
        return s;
    }

    private static float tailBF16(MemorySegment w, long off, float[] x, int xo, int from, int in, float s) {
        for (int i = from; i < in; i++) s += Float.intBitsToFloat((w.get(I16, off + 2L * i) & 0xFFFF) << 16) * x[xo + i];
        return s;
    }

    /** One row, one output (remainders). */
    static void r1o1F32(MemorySegment w, long off, float[] x, int xo, int in, float[] y, int yo, float b) {
        FloatVector a = FloatVector.zero(F);
        int i = 0;
        for (; i <= in - L; i += L) a = f32(w, off + 4L * i).fma(FloatVector.fromArray(F, x, xo + i), a);
        y[yo] = b + tailF32(w, off, x, xo, i, in, VectorMath.sumLanes(a));
    }

    /** One row, four outputs: the decode tile (x loaded once for four weight rows). */
    static void r1o4F32(MemorySegment w, long off, long stride, float[] x, int xo, int in, float[] y, int yo, float[] b, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long s1 = stride, s2 = 2 * stride, s3 = 3 * stride;
        int i = 0;
        for (; i <= in - L; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long p = off + 4L * i;
            a0 = f32(w, p).fma(xv, a0);
            a1 = f32(w, p + s1).fma(xv, a1);
            a2 = f32(w, p + s2).fma(xv, a2);
            a3 = f32(w, p + s3).fma(xv, a3);
        }
        y[yo] = b[o] + tailF32(w, off, x, xo, i, in, VectorMath.sumLanes(a0));
        y[yo + 1] = b[o + 1] + tailF32(w, off + s1, x, xo, i, in, VectorMath.sumLanes(a1));
        y[yo + 2] = b[o + 2] + tailF32(w, off + s2, x, xo, i, in, VectorMath.sumLanes(a2));
        y[yo + 3] = b[o + 3] + tailF32(w, off + s3, x, xo, i, in, VectorMath.sumLanes(a3));
    }

    /**
     * Four rows (x rows xo, xo+in, ...), two outputs: the batched tile. Each weight vector feeds
     * four multiply-adds; 8 accumulators + 2 weights + 1 x fit the 16 AVX2 registers.
     */
    static void r4o2F32(MemorySegment w, long off, long stride, float[] x, int xo, int in, float[] y, int yo, int out, float[] b, int o) {
        FloatVector z = FloatVector.zero(F);
        FloatVector a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
        int x1 = xo + in, x2 = xo + 2 * in, x3 = xo + 3 * in;
        int i = 0;
        for (; i <= in - L; i += L) {
            long p = off + 4L * i;
            FloatVector w0 = f32(w, p), w1 = f32(w, p + stride);
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            a00 = w0.fma(xv, a00);
            a01 = w1.fma(xv, a01);
            xv = FloatVector.fromArray(F, x, x1 + i);
            a10 = w0.fma(xv, a10);
            a11 = w1.fma(xv, a11);
            xv = FloatVector.fromArray(F, x, x2 + i);
            a20 = w0.fma(xv, a20);
            a21 = w1.fma(xv, a21);
            xv = FloatVector.fromArray(F, x, x3 + i);
            a30 = w0.fma(xv, a30);
            a31 = w1.fma(xv, a31);
        }
        long q = off + stride;
        float b0 = b[o], b1 = b[o + 1];
        y[yo] = b0 + tailF32(w, off, x, xo, i, in, VectorMath.sumLanes(a00));
        y[yo + 1] = b1 + tailF32(w, q, x, xo, i, in, VectorMath.sumLanes(a01));
        y[yo + out] = b0 + tailF32(w, off, x, x1, i, in, VectorMath.sumLanes(a10));
        y[yo + out + 1] = b1 + tailF32(w, q, x, x1, i, in, VectorMath.sumLanes(a11));
        y[yo + 2 * out] = b0 + tailF32(w, off, x, x2, i, in, VectorMath.sumLanes(a20));
        y[yo + 2 * out + 1] = b1 + tailF32(w, q, x, x2, i, in, VectorMath.sumLanes(a21));
        y[yo + 3 * out] = b0 + tailF32(w, off, x, x3, i, in, VectorMath.sumLanes(a30));
        y[yo + 3 * out + 1] = b1 + tailF32(w, q, x, x3, i, in, VectorMath.sumLanes(a31));
    }

    /** One row, one output, BF16 widened in registers. */
    static void r1o1BF16(MemorySegment w, long off, float[] x, int xo, int in, float[] y, int yo, float b) {
        FloatVector a = FloatVector.zero(F);
        int i = 0;
        for (; i <= in - L; i += L) a = VectorMath.bf16(w, off + 2L * i).fma(FloatVector.fromArray(F, x, xo + i), a);
        y[yo] = b + tailBF16(w, off, x, xo, i, in, VectorMath.sumLanes(a));
    }

    /** One row, four outputs, BF16 widened in registers: single-stream decode reads 2 bytes per weight. */
    static void r1o4BF16(MemorySegment w, long off, long stride, float[] x, int xo, int in, float[] y, int yo, float[] b, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long s1 = stride, s2 = 2 * stride, s3 = 3 * stride;
        int i = 0;
        for (; i <= in - L; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            long p = off + 2L * i;
            a0 = VectorMath.bf16(w, p).fma(xv, a0);
            a1 = VectorMath.bf16(w, p + s1).fma(xv, a1);
            a2 = VectorMath.bf16(w, p + s2).fma(xv, a2);
            a3 = VectorMath.bf16(w, p + s3).fma(xv, a3);
        }
        y[yo] = b[o] + tailBF16(w, off, x, xo, i, in, VectorMath.sumLanes(a0));
        y[yo + 1] = b[o + 1] + tailBF16(w, off + s1, x, xo, i, in, VectorMath.sumLanes(a1));
        y[yo + 2] = b[o + 2] + tailBF16(w, off + s2, x, xo, i, in, VectorMath.sumLanes(a2));
        y[yo + 3] = b[o + 3] + tailBF16(w, off + s3, x, xo, i, in, VectorMath.sumLanes(a3));
    }
}
