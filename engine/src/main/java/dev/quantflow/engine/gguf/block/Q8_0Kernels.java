package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q8_0 weights (int8 codes in blocks of 32 columns, one f16 scale per block) in a kernel layout,
 * and their matmul with activations given as per-block integer codes xq and scales dx
 * ({@link Q8Activations#q8_0Codes}).
 *
 * <p>Layout, the same size as ggml's (34 bytes per 32 weights): rows in groups of {@link #ROWS}
 * (one per float lane), the last group holding the out % ROWS leftover rows (n rows); group g
 * starts at g * ROWS * rowBytes; inside it block b (n * 34 bytes) holds column k of row j at
 * k * n + j, then the n f16 scales. Why rows in lanes: one code load (ROWS bytes, one per row)
 * meets one broadcast activation code, so there is no horizontal reduction, and each row's scale
 * multiplies its block's sum once (one vector FMA per ROWS x 32 weights); one group is one
 * contiguous stream.
 *
 * <p>Exactness: |xq| <= 127 and |code| <= 128, so a block's 32 products sum to at most 520192 <
 * 2^24: the block sums, accumulated as floats in any order or chain split, are exact integers.
 * Only y += sum_b * (d_w * d_x), in block order, rounds; every path (one x row, a tile of x rows,
 * the scalar leftover rows) does exactly that per row, so a row's output does not depend on the
 * batch it came in.
 */
public final class Q8_0Kernels {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Rows per group: one per float lane. */
    public static final int ROWS = F.length();
    public static final int BLOCK = 32, BYTES = 34;
    /** 128-bit species (SSE only): no 32-bit byte vector, so every group takes the scalar path. */
    private static final boolean VECTOR = ROWS >= 8;
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, ROWS * 8)));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    /** x rows per register tile of the batched path. */
    static final int TILE = 4;

    private Q8_0Kernels() {}

    /** ggml's row-major Q8_0 blocks (out, in) from src into dst in this class's layout (both out * in / 32 * 34 bytes). */
    public static void pack(MemorySegment src, MemorySegment dst, int out, int in) {
        int nb = in / BLOCK, groups = (out + ROWS - 1) / ROWS;
        long rowBytes = (long) nb * BYTES;
        Parallel.range(groups, (long) ROWS * in, (first, last) -> {
            byte[] from = new byte[(int) (ROWS * rowBytes)], to = new byte[from.length];
            for (int g = first; g < last; g++) {
                int n = Math.min(ROWS, out - g * ROWS), bytes = (int) (n * rowBytes);
                long at = g * ROWS * rowBytes;
                MemorySegment.copy(src, ValueLayout.JAVA_BYTE, at, from, 0, bytes);
                for (int b = 0; b < nb; b++) {
                    int blk = b * BYTES * n;
                    for (int j = 0; j < n; j++) {
                        int s = (int) (j * rowBytes) + b * BYTES;
                        to[blk + BLOCK * n + 2 * j] = from[s];
                        to[blk + BLOCK * n + 2 * j + 1] = from[s + 1];
                        for (int k = 0; k < BLOCK; k++) to[blk + k * n + j] = from[s + 2 + k];
                    }
                }
                MemorySegment.copy(to, 0, dst, ValueLayout.JAVA_BYTE, at, bytes);
            }
        });
    }

    /**
     * y[r * out + o] = sum_b d_w[o, b] * dx[r * nb + b] * (sum_k code[o, 32b + k] * xq[r * in + 32b + k])
     * for r < rows, o < out; w in pack's layout (a global-scope native view, see KernelMemory).
     * Groups split over the threads; each group's bytes serve every x row (TILE rows at a time, from L2).
     */
    public static void matmul(MemorySegment w, int out, int in, float[] xq, float[] dx, int rows, float[] y) {
        int nb = in / BLOCK, groups = (out + ROWS - 1) / ROWS;
        long rowBytes = (long) nb * BYTES;
        Parallel.range(groups, (long) ROWS * in * rows, (first, last) -> {
            for (int g = first; g < last; g++) {
                int o = g * ROWS, n = Math.min(ROWS, out - o);
                long go = o * rowBytes;
                if (n < ROWS || !VECTOR) {
                    for (int r = 0; r < rows; r++) leftover(w, go, n, nb, xq, r * in, dx, r * nb, y, r * out + o);
                    continue;
                }
                int r = 0;
                for (; r + TILE <= rows; r += TILE) group4(w, go, nb, in, xq, dx, r, y, out, o);
                for (; r < rows; r++) group1(w, go, nb, xq, r * in, dx, r * nb, y, r * out + o);
            }
        });
    }

    /** ROWS codes of one column of a group as floats (one byte per row). */
    private static FloatVector codes(MemorySegment w, long at) {
        return (FloatVector) ByteVector.fromMemorySegment(B, w, at, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    private static FloatVector x(float[] xq, int i) {
        return FloatVector.broadcast(F, xq[i]);
    }

    /** One x row against a full group at go: four FMA chains per block (latency), summed exactly. */
    static void group1(MemorySegment w, long go, int nb, float[] xq, int xo, float[] dx, int dxo, float[] y, int yo) {
        FloatVector acc = FloatVector.zero(F);
        long p = go;
        for (int b = 0; b < nb; b++, p += (long) BYTES * ROWS) {
            int xb = xo + b * BLOCK;
            FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
            for (int k = 0; k < BLOCK; k += 4) {
                long at = p + (long) k * ROWS;
                c0 = codes(w, at).fma(x(xq, xb + k), c0);
                c1 = codes(w, at + ROWS).fma(x(xq, xb + k + 1), c1);
                c2 = codes(w, at + 2 * ROWS).fma(x(xq, xb + k + 2), c2);
                c3 = codes(w, at + 3 * ROWS).fma(x(xq, xb + k + 3), c3);
            }
            FloatVector scale = VectorMath.f16(w, p + (long) BLOCK * ROWS);
            acc = c0.add(c1).add(c2.add(c3)).fma(scale.mul(dx[dxo + b]), acc);
        }
        acc.intoArray(y, yo);
    }

    /** TILE x rows (r0..r0+3) against a full group at go: each code vector serves four rows. */
    static void group4(MemorySegment w, long go, int nb, int in, float[] xq, float[] dx, int r0, float[] y, int out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long p = go;
        for (int b = 0; b < nb; b++, p += (long) BYTES * ROWS) {
            int x0 = r0 * in + b * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in;
            FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = codes(w, p + (long) k * ROWS);
                c0 = v.fma(x(xq, x0 + k), c0);
                c1 = v.fma(x(xq, x1 + k), c1);
                c2 = v.fma(x(xq, x2 + k), c2);
                c3 = v.fma(x(xq, x3 + k), c3);
            }
            FloatVector scale = VectorMath.f16(w, p + (long) BLOCK * ROWS);
            int d = r0 * nb + b;
            a0 = c0.fma(scale.mul(dx[d]), a0);
            a1 = c1.fma(scale.mul(dx[d + nb]), a1);
            a2 = c2.fma(scale.mul(dx[d + 2 * nb]), a2);
            a3 = c3.fma(scale.mul(dx[d + 3 * nb]), a3);
        }
        a0.intoArray(y, r0 * out + o);
        a1.intoArray(y, (r0 + 1) * out + o);
        a2.intoArray(y, (r0 + 2) * out + o);
        a3.intoArray(y, (r0 + 3) * out + o);
    }

    /** One x row against a group of n rows (the leftover rows, or every group without byte vectors), lane by lane in scalar code. */
    static void leftover(MemorySegment w, long go, int n, int nb, float[] xq, int xo, float[] dx, int dxo, float[] y, int yo) {
        for (int j = 0; j < n; j++) {
            float acc = 0f;
            for (int b = 0; b < nb; b++) {
                long p = go + (long) b * BYTES * n;
                float s = 0f;
                for (int k = 0; k < BLOCK; k++) s += w.get(ValueLayout.JAVA_BYTE, p + (long) k * n + j) * xq[xo + b * BLOCK + k];
                float scale = Float.float16ToFloat(w.get(I16, p + (long) BLOCK * n + 2L * j));
                acc = Math.fma(s, scale * dx[dxo + b], acc);
            }
            y[yo + j] = acc;
        }
    }
}
