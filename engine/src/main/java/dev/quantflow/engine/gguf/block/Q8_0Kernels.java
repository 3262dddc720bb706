package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
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
 * 2^24: the block sums, accumulated as floats in any order or chain split (or in integers: the
 * 8-lane one-row kernel groupPairs), are exact integers.
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

    /** ggml's row-major Q8_0 blocks (out, in) from src into dst in this class's layout (both out * in / 32 * 34 bytes); a mapped src's pages are dropped as they are read. */
    public static void pack(MemorySegment src, MemorySegment dst, int out, int in) {
        int nb = in / BLOCK, groups = (out + ROWS - 1) / ROWS;
        long rowBytes = (long) nb * BYTES;
        Parallel.range(groups, (long) ROWS * in, (first, last) -> {
            byte[] from = new byte[(int) (ROWS * rowBytes)], to = new byte[from.length];
            KernelMemory.Unloader read = new KernelMemory.Unloader(src, first * ROWS * rowBytes);
            for (int g = first; g < last; g++) {
                int n = Math.min(ROWS, out - g * ROWS), bytes = (int) (n * rowBytes);
                long at = g * ROWS * rowBytes;
                MemorySegment.copy(src, ValueLayout.JAVA_BYTE, at, from, 0, bytes);
                read.readTo(at + bytes);
                for (int b = 0; b < nb; b++) {
                    int blk = b * BYTES * n;
                    for (int j = 0; j < n; j++) {
                        int s = (int) (j * rowBytes) + b * BYTES;
                        to[blk + BLOCK * n + 2 * j] = from[s];
                        to[blk + BLOCK * n + 2 * j + 1] = from[s + 1];
                    }
                    int j = 0;
                    for (; j + 8 <= n; j += 8)
                        for (int k = 0; k < BLOCK; k += 8) transpose8(from, (int) (j * rowBytes) + b * BYTES + 2 + k, (int) rowBytes, to, blk + k * n + j, n);
                    for (; j < n; j++)
                        for (int k = 0; k < BLOCK; k++) to[blk + k * n + j] = from[(int) (j * rowBytes) + b * BYTES + 2 + k];
                }
                MemorySegment.copy(to, 0, dst, ValueLayout.JAVA_BYTE, at, bytes);
            }
        });
    }

    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, LE);

    /**
     * The 8x8 bytes at from[s + r * stride + c] (r, c < 8) into to[d + c * n + r]: eight rows read
     * as longs, transposed in registers (swaps of bytes, then 2- and 4-byte units, between row
     * pairs), written as eight longs. Why: the byte-by-byte copy packed 0.5-0.7 GB per CPU-second,
     * most of a 1.1B Q8_0 load; this packs 1.4-1.7 (PackBench2, same bytes).
     */
    private static void transpose8(byte[] from, int s, int stride, byte[] to, int d, int n) {
        long r0 = (long) LONG.get(from, s), r1 = (long) LONG.get(from, s + stride), r2 = (long) LONG.get(from, s + 2 * stride), r3 = (long) LONG.get(from, s + 3 * stride);
        long r4 = (long) LONG.get(from, s + 4 * stride), r5 = (long) LONG.get(from, s + 5 * stride), r6 = (long) LONG.get(from, s + 6 * stride), r7 = (long) LONG.get(from, s + 7 * stride);
        long t, m1 = 0x00FF00FF00FF00FFL, m2 = 0x0000FFFF0000FFFFL, m4 = 0x00000000FFFFFFFFL;
        t = ((r0 >>> 8) ^ r1) & m1; r1 ^= t; r0 ^= t << 8;
        t = ((r2 >>> 8) ^ r3) & m1; r3 ^= t; r2 ^= t << 8;
        t = ((r4 >>> 8) ^ r5) & m1; r5 ^= t; r4 ^= t << 8;
        t = ((r6 >>> 8) ^ r7) & m1; r7 ^= t; r6 ^= t << 8;
        t = ((r0 >>> 16) ^ r2) & m2; r2 ^= t; r0 ^= t << 16;
        t = ((r1 >>> 16) ^ r3) & m2; r3 ^= t; r1 ^= t << 16;
        t = ((r4 >>> 16) ^ r6) & m2; r6 ^= t; r4 ^= t << 16;
        t = ((r5 >>> 16) ^ r7) & m2; r7 ^= t; r5 ^= t << 16;
        t = ((r0 >>> 32) ^ r4) & m4; r4 ^= t; r0 ^= t << 32;
        t = ((r1 >>> 32) ^ r5) & m4; r5 ^= t; r1 ^= t << 32;
        t = ((r2 >>> 32) ^ r6) & m4; r6 ^= t; r2 ^= t << 32;
        t = ((r3 >>> 32) ^ r7) & m4; r7 ^= t; r3 ^= t << 32;
        LONG.set(to, d, r0);
        LONG.set(to, d + n, r1);
        LONG.set(to, d + 2 * n, r2);
        LONG.set(to, d + 3 * n, r3);
        LONG.set(to, d + 4 * n, r4);
        LONG.set(to, d + 5 * n, r5);
        LONG.set(to, d + 6 * n, r6);
        LONG.set(to, d + 7 * n, r7);
    }

    /**
     * y[r * out + o] = sum_b d_w[o, b] * dx[r * nb + b] * (sum_k code[o, 32b + k] * xq[r * in + 32b + k])
     * for r < rows, o < out; w in pack's layout (a global-scope native view, see KernelMemory);
     * xq q8_0 codes (integers in [-127, 127]).
     * Groups split over the threads; each group's bytes serve every x row: 2..MAX_TILED_ROWS rows
     * (the decode steps of several sequences) widen each code vector once per tile of rows
     * (groupRows), more rows widen a chunk once into a float scratch (groupPairBatch, groupBatch).
     */
    public static void matmul(MemorySegment w, int out, int in, float[] xq, float[] dx, int rows, float[] y) {
        matmul(w, out, in, xq, dx, rows, y, MAX_TILED_ROWS, true);
    }

    /**
     * matmul with row tiles up to min(tiledRows, MAX_TILED_ROWS) rows (1: the batched path before
     * them, which benchmarks compare against); codes: xq holds q8_0 codes (false: any floats, the
     * fp32-activation comparison, which the int16 one-row kernel cannot take).
     */
    public static void matmul(MemorySegment w, int out, int in, float[] xq, float[] dx, int rows, float[] y, int tiledRows, boolean codes) {
        int nb = in / BLOCK, groups = (out + ROWS - 1) / ROWS;
        long rowBytes = (long) nb * BYTES;
        int[] xp = rows == 1 && codes && PAIRED ? codePairs(xq, in) : null;
        Parallel.range(groups, (long) ROWS * in * rows, (first, last) -> {
            boolean scratch = rows > Math.min(tiledRows, MAX_TILED_ROWS);
            float[] wf = scratch ? new float[2 * CHUNK * BLOCK * ROWS] : null, sf = scratch ? new float[2 * CHUNK * ROWS] : null, sums = new float[MAX_TILED_ROWS * ROWS];
            for (int g = first; g < last; g++) {
                int o = g * ROWS, n = Math.min(ROWS, out - o);
                long go = o * rowBytes;
                if (n < ROWS || !VECTOR) {
                    for (int r = 0; r < rows; r++) leftover(w, go, n, nb, xq, r * in, dx, r * nb, y, r * out + o);
                    continue;
                }
                if (rows > 1 && !scratch) groupRows(w, go, nb, in, xq, dx, rows, y, out, o, sums);
                else if (rows >= TILE && g + 1 < last && o + 2 * ROWS <= out) {
                    groupPairBatch(w, go, rowBytes, nb, in, xq, dx, rows, y, out, o, wf, sf);
                    g++;
                } else if (rows >= TILE) groupBatch(w, go, nb, in, xq, dx, rows, y, out, o, wf, sf);
                else if (xp != null) groupPairs(w, go, nb, xp, dx, y, o);
                else for (int r = 0; r < rows; r++) group1(w, go, nb, xq, r * in, dx, r * nb, y, r * out + o);
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

    /**
     * The one-row kernel of the 8-lane (256-bit) species: groupPairs. Why only there: at 8 lanes
     * group1 does one 8-byte load, widening and convert, broadcast and FMA per 8 weights; it ran
     * at 0.83-0.92x h-q8i's block loop (q8_0Old) where the 512-bit one runs at 1.1-1.2x.
     */
    static final boolean PAIRED = ROWS == 8;
    private static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I8 = IntVector.SPECIES_256;
    /** Columns k and k + 1 of a group (8 bytes each) interleaved row by row: row j's pair in bytes 2j, 2j + 1. */
    private static final VectorShuffle<Byte> ZIP = PAIRED ? VectorShuffle.fromValues(B16, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15) : null;

    /** x codes k and k + 1 (k even) as the low and high shorts of an int, for groupPairs' broadcasts. */
    private static int[] codePairs(float[] xq, int in) {
        int[] xp = new int[in / 2];
        for (int i = 0; i < xp.length; i++) xp[i] = ((int) xq[2 * i] & 0xFFFF) | ((int) xq[2 * i + 1] << 16);
        return xp;
    }

    /** Columns k, k + 1 of the 8-row group at at as 16 shorts, row j's two codes in lanes 2j, 2j + 1. */
    private static ShortVector zipped(MemorySegment w, long at) {
        return (ShortVector) ByteVector.fromMemorySegment(B16, w, at, LE).rearrange(ZIP).convertShape(VectorOperators.B2S, S16, 0);
    }

    /** 2^15 in each even short: biases the low short of every int lane into [0, 2^16). */
    private static final int LOW_BIAS = 0x8000;

    /**
     * group1 in int16 for 8 rows (PAIRED): a column pair's codes (zipped) times the broadcast x
     * pair (codePairs) in one 16-lane multiply, two pairs' products added per short (|sum| <=
     * 2 * 128 * 127 = 32512, no overflow). Read as 8 ints, lane j holds row j's two partial sums,
     * the high one signed and the low one plus LOW_BIAS (added per short, so it stays in [0, 2^16)
     * and never borrows from the high short): the ints accumulate (wrapping, from minus the 8
     * steps' bias) next to the high shorts (arithmetic shift right 16), and the block sum is
     * raw - (high << 16) + high, the exact integer that group1 sums in floats. Then the same
     * y += sum_b * (d_w * d_x) as group1, so the bits are group1's. Per 32 weights: two 16-byte
     * loads and byte shuffles, two widenings, two multiplies, five adds and a shift (group1: four
     * loads, widenings, converts, broadcasts and FMAs). QuantKernelAB 2048x5632 at 256 bits: about
     * 1.2x group1 with the same f16 widening, 1.47x the one-row path before h-avx2, 1.29x h-q8i's
     * block loop (docs/BENCHMARKS.md "256-bit one-row kernels (h-avx2)").
     */
    static void groupPairs(MemorySegment w, long go, int nb, int[] xp, float[] dx, float[] y, int yo) {
        FloatVector acc = FloatVector.zero(F);
        ShortVector bias = IntVector.broadcast(I8, LOW_BIAS).reinterpretAsShorts();
        long p = go;
        for (int b = 0; b < nb; b++, p += (long) BYTES * ROWS) {
            int xb = b * BLOCK / 2;
            IntVector raw = IntVector.broadcast(I8, -LOW_BIAS * (BLOCK / 4)), high = IntVector.zero(I8);
            for (int k = 0; k < BLOCK; k += 4) {
                long at = p + (long) k * ROWS;
                ShortVector x01 = IntVector.broadcast(I8, xp[xb + k / 2]).reinterpretAsShorts(), x23 = IntVector.broadcast(I8, xp[xb + k / 2 + 1]).reinterpretAsShorts();
                IntVector v = zipped(w, at).mul(x01).add(zipped(w, at + 2 * ROWS).mul(x23)).add(bias).reinterpretAsInts();
                raw = raw.add(v);
                high = high.add(v.lanewise(VectorOperators.ASHR, 16));
            }
            IntVector sum = raw.sub(high.lanewise(VectorOperators.LSHL, 16)).add(high);
            FloatVector scale = VectorMath.f16(w, p + (long) BLOCK * ROWS);
            acc = ((FloatVector) sum.convert(VectorOperators.I2F, 0)).fma(scale.mul(dx[b]), acc);
        }
        acc.intoArray(y, yo);
    }

    /**
     * The most rows groupRows takes; more go to the float scratch of groupPairBatch. QuantKernelAB
     * 2048x5632, one thread, new/old: 1.7x at 2 rows, 1.3x at 4, 1.2x at 8, even at 12 and 16 (both
     * near the FMA peak), on two threads 0.85-0.95x per CPU-second at 12-16; serving llama.cpp's 1.1B
     * Q8_0 file at 16 streams was slower with 16 (docs/BENCHMARKS.md "Multi-row Q8_0 and W8A8 decode
     * (h-q8rows)").
     */
    static final int MAX_TILED_ROWS = 8;

    /**
     * 2..MAX_TILED_ROWS x rows against a full group at go in one tile (rowsK: up to 8 block sums, a
     * code vector and the broadcasts fit 16 registers): each code vector widened once and met by
     * every row's broadcast activation code. A block's sums go through sums (a float scratch of
     * MAX_TILED_ROWS vectors) to scaleRows; the running sums stay in y between blocks (a float store
     * and load, exact), updated as group1 updates its accumulator, so the bits equal the one-row
     * result.
     */
    static void groupRows(MemorySegment w, long go, int nb, int in, float[] xq, float[] dx, int rows, float[] y, int out, int o, float[] sums) {
        for (int r = 0; r < rows; r++) java.util.Arrays.fill(y, r * out + o, r * out + o + ROWS, 0f);
        switch (rows) {
            case 2 -> rows2(w, go, 0, nb, xq, 0, in, dx, 0, nb, y, o, out, sums);
            case 3 -> rows3(w, go, 0, nb, xq, 0, in, dx, 0, nb, y, o, out, sums);
            case 4 -> rows4(w, go, 0, nb, xq, 0, in, dx, 0, nb, y, o, out, sums);
            case 5 -> rows5(w, go, 0, nb, xq, 0, in, dx, 0, nb, y, o, out, sums);
            case 6 -> rows6(w, go, 0, nb, xq, 0, in, dx, 0, nb, y, o, out, sums);
            case 7 -> rows7(w, go, 0, nb, xq, 0, in, dx, 0, nb, y, o, out, sums);
            case 8 -> rows8(w, go, 0, nb, xq, 0, in, dx, 0, nb, y, o, out, sums);
            default -> throw new IllegalArgumentException("groupRows takes 2.." + MAX_TILED_ROWS + " rows, got " + rows);
        }
    }

    /** groupRows' tile: 2 x rows against the full group at go, blocks [b0, b1); two chains per row (even and odd columns), 4 block sums in registers. */
    private static void rows2(MemorySegment w, long go, int b0, int b1, float[] xq, int xo, int in, float[] dx, int dxo, int nb, float[] y, int yo, int out, float[] sums) {
        long p = go + (long) b0 * BYTES * ROWS;
        for (int b = b0; b < b1; b++, p += (long) BYTES * ROWS) {
            int x0 = xo + b * BLOCK, x1 = x0 + in;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, t0 = s0, t1 = s0;
            for (int k = 0; k < BLOCK; k += 2) {
                long at = p + (long) k * ROWS;
                FloatVector v = codes(w, at), u = codes(w, at + ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                t0 = u.fma(x(xq, x0 + k + 1), t0);
                t1 = u.fma(x(xq, x1 + k + 1), t1);
            }
            s0.add(t0).intoArray(sums, 0);
            s1.add(t1).intoArray(sums, ROWS);
            scaleRows(w, p, sums, 2, dx, dxo + b, nb, y, yo, out);
        }
    }

    /** groupRows' tile: 3 x rows against the full group at go, blocks [b0, b1); two chains per row (even and odd columns), 6 block sums in registers. */
    private static void rows3(MemorySegment w, long go, int b0, int b1, float[] xq, int xo, int in, float[] dx, int dxo, int nb, float[] y, int yo, int out, float[] sums) {
        long p = go + (long) b0 * BYTES * ROWS;
        for (int b = b0; b < b1; b++, p += (long) BYTES * ROWS) {
            int x0 = xo + b * BLOCK, x1 = x0 + in, x2 = x1 + in;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, t0 = s0, t1 = s0, t2 = s0;
            for (int k = 0; k < BLOCK; k += 2) {
                long at = p + (long) k * ROWS;
                FloatVector v = codes(w, at), u = codes(w, at + ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                s2 = v.fma(x(xq, x2 + k), s2);
                t0 = u.fma(x(xq, x0 + k + 1), t0);
                t1 = u.fma(x(xq, x1 + k + 1), t1);
                t2 = u.fma(x(xq, x2 + k + 1), t2);
            }
            s0.add(t0).intoArray(sums, 0);
            s1.add(t1).intoArray(sums, ROWS);
            s2.add(t2).intoArray(sums, 2 * ROWS);
            scaleRows(w, p, sums, 3, dx, dxo + b, nb, y, yo, out);
        }
    }

    /** groupRows' tile: 4 x rows against the full group at go, blocks [b0, b1); 4 block sums in registers. */
    private static void rows4(MemorySegment w, long go, int b0, int b1, float[] xq, int xo, int in, float[] dx, int dxo, int nb, float[] y, int yo, int out, float[] sums) {
        long p = go + (long) b0 * BYTES * ROWS;
        for (int b = b0; b < b1; b++, p += (long) BYTES * ROWS) {
            int x0 = xo + b * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = codes(w, p + (long) k * ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                s2 = v.fma(x(xq, x2 + k), s2);
                s3 = v.fma(x(xq, x3 + k), s3);
            }
            s0.intoArray(sums, 0);
            s1.intoArray(sums, ROWS);
            s2.intoArray(sums, 2 * ROWS);
            s3.intoArray(sums, 3 * ROWS);
            scaleRows(w, p, sums, 4, dx, dxo + b, nb, y, yo, out);
        }
    }

    /** groupRows' tile: 5 x rows against the full group at go, blocks [b0, b1); 5 block sums in registers. */
    private static void rows5(MemorySegment w, long go, int b0, int b1, float[] xq, int xo, int in, float[] dx, int dxo, int nb, float[] y, int yo, int out, float[] sums) {
        long p = go + (long) b0 * BYTES * ROWS;
        for (int b = b0; b < b1; b++, p += (long) BYTES * ROWS) {
            int x0 = xo + b * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in, x4 = x3 + in;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = codes(w, p + (long) k * ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                s2 = v.fma(x(xq, x2 + k), s2);
                s3 = v.fma(x(xq, x3 + k), s3);
                s4 = v.fma(x(xq, x4 + k), s4);
            }
            s0.intoArray(sums, 0);
            s1.intoArray(sums, ROWS);
            s2.intoArray(sums, 2 * ROWS);
            s3.intoArray(sums, 3 * ROWS);
            s4.intoArray(sums, 4 * ROWS);
            scaleRows(w, p, sums, 5, dx, dxo + b, nb, y, yo, out);
        }
    }

    /** groupRows' tile: 6 x rows against the full group at go, blocks [b0, b1); 6 block sums in registers. */
    private static void rows6(MemorySegment w, long go, int b0, int b1, float[] xq, int xo, int in, float[] dx, int dxo, int nb, float[] y, int yo, int out, float[] sums) {
        long p = go + (long) b0 * BYTES * ROWS;
        for (int b = b0; b < b1; b++, p += (long) BYTES * ROWS) {
            int x0 = xo + b * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in, x4 = x3 + in, x5 = x4 + in;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = codes(w, p + (long) k * ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                s2 = v.fma(x(xq, x2 + k), s2);
                s3 = v.fma(x(xq, x3 + k), s3);
                s4 = v.fma(x(xq, x4 + k), s4);
                s5 = v.fma(x(xq, x5 + k), s5);
            }
            s0.intoArray(sums, 0);
            s1.intoArray(sums, ROWS);
            s2.intoArray(sums, 2 * ROWS);
            s3.intoArray(sums, 3 * ROWS);
            s4.intoArray(sums, 4 * ROWS);
            s5.intoArray(sums, 5 * ROWS);
            scaleRows(w, p, sums, 6, dx, dxo + b, nb, y, yo, out);
        }
    }

    /** groupRows' tile: 7 x rows against the full group at go, blocks [b0, b1); 7 block sums in registers. */
    private static void rows7(MemorySegment w, long go, int b0, int b1, float[] xq, int xo, int in, float[] dx, int dxo, int nb, float[] y, int yo, int out, float[] sums) {
        long p = go + (long) b0 * BYTES * ROWS;
        for (int b = b0; b < b1; b++, p += (long) BYTES * ROWS) {
            int x0 = xo + b * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in, x4 = x3 + in, x5 = x4 + in, x6 = x5 + in;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = codes(w, p + (long) k * ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                s2 = v.fma(x(xq, x2 + k), s2);
                s3 = v.fma(x(xq, x3 + k), s3);
                s4 = v.fma(x(xq, x4 + k), s4);
                s5 = v.fma(x(xq, x5 + k), s5);
                s6 = v.fma(x(xq, x6 + k), s6);
            }
            s0.intoArray(sums, 0);
            s1.intoArray(sums, ROWS);
            s2.intoArray(sums, 2 * ROWS);
            s3.intoArray(sums, 3 * ROWS);
            s4.intoArray(sums, 4 * ROWS);
            s5.intoArray(sums, 5 * ROWS);
            s6.intoArray(sums, 6 * ROWS);
            scaleRows(w, p, sums, 7, dx, dxo + b, nb, y, yo, out);
        }
    }

    /** groupRows' tile: 8 x rows against the full group at go, blocks [b0, b1); 8 block sums in registers. */
    private static void rows8(MemorySegment w, long go, int b0, int b1, float[] xq, int xo, int in, float[] dx, int dxo, int nb, float[] y, int yo, int out, float[] sums) {
        long p = go + (long) b0 * BYTES * ROWS;
        for (int b = b0; b < b1; b++, p += (long) BYTES * ROWS) {
            int x0 = xo + b * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in, x4 = x3 + in, x5 = x4 + in, x6 = x5 + in, x7 = x6 + in;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = codes(w, p + (long) k * ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                s2 = v.fma(x(xq, x2 + k), s2);
                s3 = v.fma(x(xq, x3 + k), s3);
                s4 = v.fma(x(xq, x4 + k), s4);
                s5 = v.fma(x(xq, x5 + k), s5);
                s6 = v.fma(x(xq, x6 + k), s6);
                s7 = v.fma(x(xq, x7 + k), s7);
            }
            s0.intoArray(sums, 0);
            s1.intoArray(sums, ROWS);
            s2.intoArray(sums, 2 * ROWS);
            s3.intoArray(sums, 3 * ROWS);
            s4.intoArray(sums, 4 * ROWS);
            s5.intoArray(sums, 5 * ROWS);
            s6.intoArray(sums, 6 * ROWS);
            s7.intoArray(sums, 7 * ROWS);
            scaleRows(w, p, sums, 8, dx, dxo + b, nb, y, yo, out);
        }
    }


    /**
     * y[yo + r * out ..] = sums[r * ROWS ..] * (scale * dx[d + r * nb]) + y[..] for the k rows of a
     * tile, the block's scales at p + BLOCK * ROWS: the one rounding step group1 takes per block.
     * A loop, not written out per row in the tiles: with six and more rows written out, C2 stopped
     * inlining at its node cutoff and boxed the last rows' vectors (0.2-0.5x the scratch path).
     */
    private static void scaleRows(MemorySegment w, long p, float[] sums, int k, float[] dx, int d, int nb, float[] y, int yo, int out) {
        FloatVector scale = VectorMath.f16(w, p + (long) BLOCK * ROWS);
        for (int r = 0; r < k; r++) update(FloatVector.fromArray(F, sums, r * ROWS), scale, dx[d + r * nb], y, yo + r * out);
    }

    /**
     * All x rows (at least TILE) against a full group at go, CHUNK blocks at a time: the chunk's
     * codes widened once to floats (exact) into an L1 scratch, then TILE x rows at a time pass
     * over it with FMAs only, their running sums kept in y between chunks (a float store and
     * load, exact). Why: converting the codes for every tile of four rows (measured first) ran
     * at 0.6x PanelMatmul's dequantized panel at 128 rows; the scratch pays for the conversion
     * once per group and chunk.
     */
    static void groupBatch(MemorySegment w, long go, int nb, int in, float[] xq, float[] dx, int rows, float[] y, int out, int o, float[] wf, float[] sf) {
        for (int r = 0; r < rows; r++) java.util.Arrays.fill(y, r * out + o, r * out + o + ROWS, 0f);
        for (int c0 = 0; c0 < nb; c0 += CHUNK) {
            int nc = Math.min(CHUNK, nb - c0);
            long p = go + (long) c0 * BYTES * ROWS;
            for (int b = 0; b < nc; b++, p += (long) BYTES * ROWS) {
                for (int k = 0; k < BLOCK; k++) codes(w, p + (long) k * ROWS).intoArray(wf, (b * BLOCK + k) * ROWS);
                VectorMath.f16(w, p + (long) BLOCK * ROWS).intoArray(sf, b * ROWS);
            }
            int r = 0;
            for (; r + 2 * TILE <= rows; r += 2 * TILE) tile8(wf, sf, nc, c0, nb, in, xq, dx, r, y, out, o);
            for (; r + TILE <= rows; r += TILE) tile4(wf, sf, nc, c0, nb, in, xq, dx, r, y, out, o);
            for (; r < rows; r++) tile1(wf, 0, sf, 0, nc, c0, nb, xq, r * in, dx, r * nb, y, r * out + o);
        }
    }

    /**
     * groupBatch for two full groups at once (go, go + ROWS * rowBytes): each broadcast x code
     * meets two code vectors, 4 x rows x 2 groups of block sums in registers, the running sums
     * updated in y once per block. Why: with one group, one FMA per broadcast, the 128-row
     * batch ran at 0.75x PanelMatmul's dense tile.
     */
    static void groupPairBatch(MemorySegment w, long go, long rowBytes, int nb, int in, float[] xq, float[] dx, int rows, float[] y, int out, int o, float[] wf, float[] sf) {
        int half = CHUNK * BLOCK * ROWS;
        for (int r = 0; r < rows; r++) java.util.Arrays.fill(y, r * out + o, r * out + o + 2 * ROWS, 0f);
        for (int c0 = 0; c0 < nb; c0 += CHUNK) {
            int nc = Math.min(CHUNK, nb - c0);
            for (int h = 0; h < 2; h++) {
                long p = go + h * ROWS * rowBytes + (long) c0 * BYTES * ROWS;
                for (int b = 0; b < nc; b++, p += (long) BYTES * ROWS) {
                    for (int k = 0; k < BLOCK; k++) codes(w, p + (long) k * ROWS).intoArray(wf, h * half + (b * BLOCK + k) * ROWS);
                    VectorMath.f16(w, p + (long) BLOCK * ROWS).intoArray(sf, (h * CHUNK + b) * ROWS);
                }
            }
            int r = 0;
            for (; r + TILE <= rows; r += TILE) pair4(wf, sf, nc, c0, nb, in, xq, dx, r, y, out, o);
            for (; r < rows; r++)
                for (int h = 0; h < 2; h++) tile1(wf, h * half, sf, h * CHUNK * ROWS, nc, c0, nb, xq, r * in, dx, r * nb, y, r * out + o + h * ROWS);
        }
    }

    /** y[(r0 + m) * out + o + h * ROWS ..] += block sums times scales, for the four x rows m and both groups h, block by block. */
    private static void pair4(float[] wf, float[] sf, int nc, int c0, int nb, int in, float[] xq, float[] dx, int r0, float[] y, int out, int o) {
        int half = CHUNK * BLOCK * ROWS;
        for (int b = 0; b < nc; b++) {
            int x0 = r0 * in + (c0 + b) * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in, wb = b * BLOCK * ROWS;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = FloatVector.fromArray(F, wf, wb + k * ROWS), u = FloatVector.fromArray(F, wf, half + wb + k * ROWS);
                FloatVector e0 = x(xq, x0 + k), e1 = x(xq, x1 + k), e2 = x(xq, x2 + k), e3 = x(xq, x3 + k);
                s0 = v.fma(e0, s0);
                t0 = u.fma(e0, t0);
                s1 = v.fma(e1, s1);
                t1 = u.fma(e1, t1);
                s2 = v.fma(e2, s2);
                t2 = u.fma(e2, t2);
                s3 = v.fma(e3, s3);
                t3 = u.fma(e3, t3);
            }
            FloatVector sc = FloatVector.fromArray(F, sf, b * ROWS), tc = FloatVector.fromArray(F, sf, (CHUNK + b) * ROWS);
            int d = r0 * nb + c0 + b, yo = r0 * out + o;
            update(s0, sc, dx[d], y, yo);
            update(t0, tc, dx[d], y, yo + ROWS);
            update(s1, sc, dx[d + nb], y, yo + out);
            update(t1, tc, dx[d + nb], y, yo + out + ROWS);
            update(s2, sc, dx[d + 2 * nb], y, yo + 2 * out);
            update(t2, tc, dx[d + 2 * nb], y, yo + 2 * out + ROWS);
            update(s3, sc, dx[d + 3 * nb], y, yo + 3 * out);
            update(t3, tc, dx[d + 3 * nb], y, yo + 3 * out + ROWS);
        }
    }

    /** y[at..] = s * (scale * d) + y[at..]: the one rounding step every path shares. */
    private static void update(FloatVector s, FloatVector scale, float d, float[] y, int at) {
        s.fma(scale.mul(d), FloatVector.fromArray(F, y, at)).intoArray(y, at);
    }

    /** Blocks per chunk of groupBatch: 16 KiB of float codes on the 512-bit species. */
    static final int CHUNK = 8;

    /** The running sum of a batch row, kept in y (zeroed first: no vector chosen by a branch, which C2 would box). */
    private static FloatVector sum(float[] y, int at, int c0) {
        return FloatVector.fromArray(F, y, at);
    }

    /** Eight x rows (r0..r0+7) over a chunk of float codes wf (nc blocks from block c0): eight FMAs per code load. */
    private static void tile8(float[] wf, float[] sf, int nc, int c0, int nb, int in, float[] xq, float[] dx, int r0, float[] y, int out, int o) {
        int y0 = r0 * out + o;
        FloatVector a0 = sum(y, y0, c0), a1 = sum(y, y0 + out, c0), a2 = sum(y, y0 + 2 * out, c0), a3 = sum(y, y0 + 3 * out, c0);
        FloatVector a4 = sum(y, y0 + 4 * out, c0), a5 = sum(y, y0 + 5 * out, c0), a6 = sum(y, y0 + 6 * out, c0), a7 = sum(y, y0 + 7 * out, c0);
        for (int b = 0; b < nc; b++) {
            int x0 = r0 * in + (c0 + b) * BLOCK, wb = b * BLOCK * ROWS;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = FloatVector.fromArray(F, wf, wb + k * ROWS);
                int xk = x0 + k;
                s0 = v.fma(x(xq, xk), s0);
                s1 = v.fma(x(xq, xk + in), s1);
                s2 = v.fma(x(xq, xk + 2 * in), s2);
                s3 = v.fma(x(xq, xk + 3 * in), s3);
                s4 = v.fma(x(xq, xk + 4 * in), s4);
                s5 = v.fma(x(xq, xk + 5 * in), s5);
                s6 = v.fma(x(xq, xk + 6 * in), s6);
                s7 = v.fma(x(xq, xk + 7 * in), s7);
            }
            FloatVector scale = FloatVector.fromArray(F, sf, b * ROWS);
            int d = r0 * nb + c0 + b;
            a0 = s0.fma(scale.mul(dx[d]), a0);
            a1 = s1.fma(scale.mul(dx[d + nb]), a1);
            a2 = s2.fma(scale.mul(dx[d + 2 * nb]), a2);
            a3 = s3.fma(scale.mul(dx[d + 3 * nb]), a3);
            a4 = s4.fma(scale.mul(dx[d + 4 * nb]), a4);
            a5 = s5.fma(scale.mul(dx[d + 5 * nb]), a5);
            a6 = s6.fma(scale.mul(dx[d + 6 * nb]), a6);
            a7 = s7.fma(scale.mul(dx[d + 7 * nb]), a7);
        }
        a0.intoArray(y, y0);
        a1.intoArray(y, y0 + out);
        a2.intoArray(y, y0 + 2 * out);
        a3.intoArray(y, y0 + 3 * out);
        a4.intoArray(y, y0 + 4 * out);
        a5.intoArray(y, y0 + 5 * out);
        a6.intoArray(y, y0 + 6 * out);
        a7.intoArray(y, y0 + 7 * out);
    }

    /** Four x rows (r0..r0+3) over a chunk of float codes wf (nc blocks from block c0). */
    private static void tile4(float[] wf, float[] sf, int nc, int c0, int nb, int in, float[] xq, float[] dx, int r0, float[] y, int out, int o) {
        int y0 = r0 * out + o, y1 = y0 + out, y2 = y1 + out, y3 = y2 + out;
        FloatVector a0 = sum(y, y0, c0), a1 = sum(y, y1, c0), a2 = sum(y, y2, c0), a3 = sum(y, y3, c0);
        for (int b = 0; b < nc; b++) {
            int x0 = r0 * in + (c0 + b) * BLOCK, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in, wb = b * BLOCK * ROWS;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
            for (int k = 0; k < BLOCK; k++) {
                FloatVector v = FloatVector.fromArray(F, wf, wb + k * ROWS);
                s0 = v.fma(x(xq, x0 + k), s0);
                s1 = v.fma(x(xq, x1 + k), s1);
                s2 = v.fma(x(xq, x2 + k), s2);
                s3 = v.fma(x(xq, x3 + k), s3);
            }
            FloatVector scale = FloatVector.fromArray(F, sf, b * ROWS);
            int d = r0 * nb + c0 + b;
            a0 = s0.fma(scale.mul(dx[d]), a0);
            a1 = s1.fma(scale.mul(dx[d + nb]), a1);
            a2 = s2.fma(scale.mul(dx[d + 2 * nb]), a2);
            a3 = s3.fma(scale.mul(dx[d + 3 * nb]), a3);
        }
        a0.intoArray(y, y0);
        a1.intoArray(y, y1);
        a2.intoArray(y, y2);
        a3.intoArray(y, y3);
    }

    /** One x row over a chunk of float codes (the rows after the last whole tile). */
    private static void tile1(float[] wf, int wo, float[] sf, int so, int nc, int c0, int nb, float[] xq, int xo, float[] dx, int dxo, float[] y, int yo) {
        FloatVector acc = sum(y, yo, c0);
        for (int b = 0; b < nc; b++) {
            int xb = xo + (c0 + b) * BLOCK, wb = wo + b * BLOCK * ROWS;
            FloatVector s0 = FloatVector.zero(F), s1 = s0;
            for (int k = 0; k < BLOCK; k += 2) {
                s0 = FloatVector.fromArray(F, wf, wb + k * ROWS).fma(x(xq, xb + k), s0);
                s1 = FloatVector.fromArray(F, wf, wb + (k + 1) * ROWS).fma(x(xq, xb + k + 1), s1);
            }
            acc = s0.add(s1).fma(FloatVector.fromArray(F, sf, so + b * ROWS).mul(dx[dxo + c0 + b]), acc);
        }
        acc.intoArray(y, yo);
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
