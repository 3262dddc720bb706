package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import dev.quantflow.engine.quant.ActivationQuant;
import dev.quantflow.engine.quant.GroupLayout;
import dev.quantflow.engine.quant.Int4Packing;
import dev.quantflow.engine.quant.QuantizedMatrix;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The quantized kernels as they were before issue 14 (row-at-a-time dot products, a lane
 * reduction per int4 group, the int32 multiply of int8 pairs), and the first round's int4 decode
 * (w4a16FourStreams), kept verbatim so that a JMH run
 * measures before and after side by side in one JVM on the same bytes.
 */
final class QuantBaselines {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));

    private QuantBaselines() {}

    /** Int8Linear.forward before: dotI8F32 per row; a batch dequantizes a row and dots it with each x row. */
    static void w8a16(byte[] q, float[] scale, int out, int in, float[] x, int rows, float[] y) {
        Parallel.range(out, (long) in * rows, (start, end) -> {
            float[] row = rows == 1 ? null : new float[in];
            for (int o = start; o < end; o++) {
                if (row == null) {
                    y[o] = scale[o] * Int8Kernels.dotI8F32(q, o * in, x, 0, in);
                } else {
                    Int8Kernels.dequantize(q, o * in, scale[o], row, in);
                    for (int r = 0; r < rows; r++) y[r * out + o] = VectorMath.dot(row, 0, x, r * in, in);
                }
            }
        });
    }

    /** ActivationQuant.matmul before: one int8 dot (B2I widening, int32 multiply) per (row, output, group). */
    static void w8a8(QuantizedMatrix w, float[] x, int rows, float[] y) {
        GroupLayout layout = w.layout();
        ActivationQuant a = ActivationQuant.quantize(x, rows, layout);
        int in = layout.cols(), out = w.rows(), ng = layout.groups();
        byte[] wq = w.q(), q = a.q();
        float[] ws = w.scales(), scales = a.scales();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            for (int o = start; o < end; o++)
                for (int r = 0; r < rows; r++) {
                    float acc = 0f;
                    for (int k = 0; k < ng; k++) {
                        int s = layout.start(k), n = layout.end(k) - s;
                        acc += dotI8Int32(q, r * in + s, wq, o * in + s, n) * (scales[r * ng + k] * ws[o * ng + k]);
                    }
                    y[r * out + o] = acc;
                }
        });
    }

    /** Int8Kernels.dotI8 before the second round: both sides widened to int32 (B2I), vpmulld. */
    static int dotI8Int32(byte[] a, int ao, byte[] b, int bo, int n) {
        IntVector s0 = IntVector.zero(I), s1 = s0;
        int L = I.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            IntVector a0 = (IntVector) ByteVector.fromArray(B, a, ao + i).convertShape(VectorOperators.B2I, I, 0);
            IntVector b0 = (IntVector) ByteVector.fromArray(B, b, bo + i).convertShape(VectorOperators.B2I, I, 0);
            IntVector a1 = (IntVector) ByteVector.fromArray(B, a, ao + i + L).convertShape(VectorOperators.B2I, I, 0);
            IntVector b1 = (IntVector) ByteVector.fromArray(B, b, bo + i + L).convertShape(VectorOperators.B2I, I, 0);
            s0 = s0.add(a0.mul(b0));
            s1 = s1.add(a1.mul(b1));
        }
        for (; i <= n - L; i += L) {
            IntVector a0 = (IntVector) ByteVector.fromArray(B, a, ao + i).convertShape(VectorOperators.B2I, I, 0);
            IntVector b0 = (IntVector) ByteVector.fromArray(B, b, bo + i).convertShape(VectorOperators.B2I, I, 0);
            s0 = s0.add(a0.mul(b0));
        }
        int sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[ao + i] * b[bo + i];
        return sum;
    }

    /**
     * Int4GroupLinear's decode of the first round of issue 14 (one activation row): four weight
     * rows per x load, but four separate row streams (rows not interleaved), over pack4's layout.
     */
    static void w4a16FourStreams(byte[] packed, float[] scales, byte[] zeros, GroupLayout layout, int out, int in, float[] x, float[] y) {
        int padded = (in + 31) / 32 * 32, bytesPerRow = padded / 2, ng = layout.groups();
        float[] xp = new float[padded];
        System.arraycopy(x, 0, xp, 0, in);
        float[] xsum = new float[ng];
        for (int g = 0; g < ng; g++) for (int c = layout.start(g); c < layout.end(g); c++) xsum[g] += xp[c];
        Parallel.range(out, in, (start, end) -> {
            for (int o = start; o < end; o += 4) {
                int n = Math.min(4, end - o);
                int r0 = o, r1 = n > 1 ? o + 1 : r0, r2 = n > 2 ? o + 2 : r1, r3 = n > 3 ? o + 3 : r2;
                int p0 = r0 * bytesPerRow, p1 = r1 * bytesPerRow, p2 = r2 * bytesPerRow, p3 = r3 * bytesPerRow;
                FloatVector z = FloatVector.zero(F), t0 = z, t1 = z, t2 = z, t3 = z;
                float c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f;
                for (int g = 0; g < ng; g++) {
                    int b0 = layout.start(g) / 32, b1 = (layout.end(g) + 31) / 32;
                    FloatVector a0 = z, a1 = z, a2 = z, a3 = z;
                    for (int blk = b0; blk < b1; blk++)
                        for (int c = 0; c < 16; c += L) {
                            int at = blk * 16 + c;
                            FloatVector xl = FloatVector.fromArray(F, xp, blk * 32 + c), xh = FloatVector.fromArray(F, xp, blk * 32 + 16 + c);
                            a0 = nibbles(packed, p0 + at, xl, xh, a0);
                            a1 = nibbles(packed, p1 + at, xl, xh, a1);
                            a2 = nibbles(packed, p2 + at, xl, xh, a2);
                            a3 = nibbles(packed, p3 + at, xl, xh, a3);
                        }
                    float s0 = scales[r0 * ng + g], s1 = scales[r1 * ng + g], s2 = scales[r2 * ng + g], s3 = scales[r3 * ng + g];
                    t0 = a0.fma(FloatVector.broadcast(F, s0), t0);
                    t1 = a1.fma(FloatVector.broadcast(F, s1), t1);
                    t2 = a2.fma(FloatVector.broadcast(F, s2), t2);
                    t3 = a3.fma(FloatVector.broadcast(F, s3), t3);
                    c0 += s0 * zeros[r0 * ng + g] * xsum[g];
                    c1 += s1 * zeros[r1 * ng + g] * xsum[g];
                    c2 += s2 * zeros[r2 * ng + g] * xsum[g];
                    c3 += s3 * zeros[r3 * ng + g] * xsum[g];
                }
                float[] dots = {VectorMath.sumLanes(t0) - c0, VectorMath.sumLanes(t1) - c1, VectorMath.sumLanes(t2) - c2, VectorMath.sumLanes(t3) - c3};
                for (int j = 0; j < n; j++) y[o + j] = dots[j];
            }
        });
    }

    private static FloatVector nibbles(byte[] packed, int off, FloatVector xl, FloatVector xh, FloatVector acc) {
        IntVector v = (IntVector) ByteVector.fromArray(B, packed, off).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
        FloatVector lo = (FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0);
        FloatVector hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0);
        return hi.fma(xh, lo.fma(xl, acc));
    }

    /** The read bandwidth of the same rotation of heap byte arrays the kernels stream (no arithmetic but an add). */

    static long read(byte[] q) {
        var S = ByteVector.SPECIES_PREFERRED;
        var a = jdk.incubator.vector.LongVector.zero(jdk.incubator.vector.LongVector.SPECIES_PREFERRED);
        var b = a;
        int M = S.length(), i = 0;
        for (; i <= q.length - 2 * M; i += 2 * M) {
            a = a.add(ByteVector.fromArray(S, q, i).reinterpretAsLongs());
            b = b.add(ByteVector.fromArray(S, q, i + M).reinterpretAsLongs());
        }
        return a.add(b).reduceLanes(VectorOperators.ADD);
    }

    /**
     * The plain stream of bytes bytes of kernel (native, huge-page advised) memory, float vector
     * loads summed, split over Parallel's threads like a decode matmul: the bound a bf16 or int8
     * decode kernel on KernelMemory could reach.
     */
    static float readNative(java.lang.foreign.MemorySegment w, long bytes) {
        int line = 64 * 1024, chunks = (int) (bytes / line);
        float[] part = new float[chunks];
        dev.quantflow.engine.compute.Parallel.range(chunks, line, (first, last) -> {
            int step = 4 * F.length();
            for (int c = first; c < last; c++) {
                var a = jdk.incubator.vector.FloatVector.zero(F);
                var b = a;
                long base = (long) c * line;
                for (int i = 0; i < line; i += 2 * step) {
                    a = a.add(jdk.incubator.vector.FloatVector.fromMemorySegment(F, w, base + i, java.nio.ByteOrder.LITTLE_ENDIAN));
                    b = b.add(jdk.incubator.vector.FloatVector.fromMemorySegment(F, w, base + i + step, java.nio.ByteOrder.LITTLE_ENDIAN));
                }
                part[c] = a.add(b).reduceLanes(VectorOperators.ADD);
            }
        });
        float s = 0;
        for (float v : part) s += v;
        return s;
    }

    /** The second round's unchunked interleave8 layout (8-row groups over whole rows), for w8a16Unchunked. */
    static byte[] interleave8Unchunked(byte[] q, int out, int in) {
        int K = Int8Kernels.block(), R = Int8Kernels.ROWS, full = in / K * K, tail = in - full, groups = out / R;
        byte[] r = q.clone();   // leftover rows stay row-major
        for (int g = 0; g < groups; g++)
            for (int j = 0; j < R; j++) {
                int base = g * R * in, row = base + j * in;
                for (int c = 0; c < full; c += K) System.arraycopy(q, row + c, r, base + (c / K * R + j) * K, K);
                System.arraycopy(q, row + full, r, base + R * full + j * tail, tail);
            }
        return r;
    }

    /** The second round's w8a16 decode over interleave8Unchunked's layout: each thread's groups over whole rows. */
    static void w8a16Unchunked(byte[] q, float[] scale, int out, int in, float[] x, float[] y) {
        int R = Int8Kernels.ROWS, groups = out / R, full = in / Int8Kernels.block() * Int8Kernels.block();
        Parallel.range(groups + (out % R == 0 ? 0 : 1), (long) in * R, (first, last) -> {
            float[] dots = new float[R];
            for (int g = first; g < Math.min(last, groups); g++) {
                java.util.Arrays.fill(dots, 0f);
                Int8Kernels.dotI8F32x8(q, g * R * in, x, 0, 0, full, dots, 0, dev.quantflow.engine.compute.VectorMath.lanes(8));
                Int8Kernels.dotI8F32x8Tail(q, g * R * in, x, 0, in, dots, 0);
                for (int j = 0; j < R; j++) y[g * R + j] = scale[g * R + j] * dots[j];
            }
            if (last > groups) for (int o = groups * R; o < out; o++) y[o] = scale[o] * Int8Kernels.dotI8F32(q, o * in, x, 0, in);
        });
    }

    /** Int4GroupLinear's block packing (32 columns in 16 bytes: column j low nibble, j+16 high). */
    static byte[] pack4(QuantizedMatrix m) {
        QuantizedMatrix u = Int4Packing.toUnsigned(m);
        int out = u.rows(), in = u.cols(), bpr = (in + 31) / 32 * 16;
        byte[] packed = new byte[out * bpr], q = u.q();
        for (int o = 0; o < out; o++)
            for (int c = 0; c < in; c++) {
                int j = c % 32, b = o * bpr + c / 32 * 16 + (j % 16);
                packed[b] |= (byte) (j < 16 ? q[o * in + c] : q[o * in + c] << 4);
            }
        return packed;
    }

    /** Int4GroupLinear before: decode reduces lanes per group; a batch dequantizes a row and dots it per x row. */
    static void w4a16(byte[] packed, float[] scales, byte[] zeros, GroupLayout layout, int out, int in, float[] x, int rows, float[] y) {
        int padded = (in + 31) / 32 * 32, bytesPerRow = padded / 2, ng = layout.groups();
        if (rows == 1) {
            float[] xp = new float[padded];
            System.arraycopy(x, 0, xp, 0, in);
            float[] xsum = new float[ng];
            for (int g = 0; g < ng; g++) for (int c = layout.start(g); c < layout.end(g); c++) xsum[g] += xp[c];
            Parallel.range(out, in, (start, end) -> {
                for (int o = start; o < end; o++) {
                    int base = o * bytesPerRow;
                    float total = 0f;
                    for (int g = 0; g < ng; g++) {
                        int b0 = layout.start(g) / 32, b1 = (layout.end(g) + 31) / 32;
                        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
                        for (int blk = b0; blk < b1; blk++)
                            for (int c = 0; c < 16; c += L) {
                                IntVector v = (IntVector) ByteVector.fromArray(B, packed, base + blk * 16 + c).convertShape(VectorOperators.B2I, I, 0);
                                FloatVector lo = (FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0);
                                FloatVector hi = (FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(0x0F).convert(VectorOperators.I2F, 0);
                                acc0 = lo.fma(FloatVector.fromArray(F, xp, blk * 32 + c), acc0);
                                acc1 = hi.fma(FloatVector.fromArray(F, xp, blk * 32 + 16 + c), acc1);
                            }
                        float qx = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
                        total += scales[o * ng + g] * (qx - zeros[o * ng + g] * xsum[g]);
                    }
                    y[o] = total;
                }
            });
            return;
        }
        Parallel.range(out, (long) in * rows, (start, end) -> {
            float[] row = new float[padded];
            for (int o = start; o < end; o++) {
                int base = o * bytesPerRow;
                for (int blk = 0; blk < padded / 32; blk++) {
                    int g = Math.min(ng - 1, blk * 32 / layout.groupSize());
                    float s = scales[o * ng + g], z = zeros[o * ng + g];
                    for (int c = 0; c < 16; c += L) {
                        IntVector v = (IntVector) ByteVector.fromArray(B, packed, base + blk * 16 + c).convertShape(VectorOperators.B2I, I, 0);
                        ((FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0)).sub(z).mul(s).intoArray(row, blk * 32 + c);
                        ((FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(0x0F).convert(VectorOperators.I2F, 0)).sub(z).mul(s).intoArray(row, blk * 32 + 16 + c);
                    }
                }
                for (int r = 0; r < rows; r++) y[r * out + o] = VectorMath.dot(row, 0, x, r * in, in);
            }
        });
    }

    /**
     * Q4_0Linear before h-q4i (BlockLinear over the file's blocks): activations rounded to q8_0
     * floats, one 18-byte block at a time widened to floats and FMA'd, a lane reduction per row;
     * a batch decodes each panel of rows to fp32 and runs PanelMatmul over it.
     */
    static void q4_0(MemorySegment w, int out, int in, float[] input, int rows, float[] y) {
        float[] x = new float[rows * in];
        for (int b = 0; b < rows * in / 32; b++) {   // Q8Activations.q8_0
            int o = b * 32;
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(input[o + j]));
            if (amax == 0) continue;
            float d = Float.float16ToFloat(Float.floatToFloat16(amax / 127f)), id = 127f / amax;
            for (int j = 0; j < 32; j++) x[o + j] = d * (float) Math.rint(input[o + j] * id);
        }
        long rowBytes = (long) in / 32 * 18;
        if (rows == 1) {
            Parallel.range(out, in, (s, e) -> {
                for (int o = s; o < e; o++) y[o] = q4_0Dot(w, o * rowBytes, in, x);
            });
            return;
        }
        PanelMatmul.forward(out, in, in, (o, dst, off) -> q4_0Dequantize(w, o * rowBytes, in, dst, off), null, x, rows, y);
    }

    private static float q4_0Dot(MemorySegment w, long rowOff, int in, float[] x) {
        FloatVector acc = FloatVector.zero(F);
        int blocks = in / 32, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * 18;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 2, ByteOrder.LITTLE_ENDIAN);
            ByteVector lo = q.and((byte) 0xF).sub((byte) 8), hi = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
            int xb = b * 32;
            FloatVector s = FloatVector.zero(F);
            for (int part = 0; part < parts; part++) {
                s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xb + part * L), s);
                s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xb + 16 + part * L), s);
            }
            acc = s.fma(FloatVector.broadcast(F, Float.float16ToFloat(w.get(I16, base))), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    private static void q4_0Dequantize(MemorySegment w, long rowOff, int in, float[] dst, int off) {
        int blocks = in / 32, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * 18;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 2, ByteOrder.LITTLE_ENDIAN);
            ByteVector lo = q.and((byte) 0xF).sub((byte) 8), hi = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(w.get(I16, base)));
            int o = off + b * 32;
            for (int part = 0; part < parts; part++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).mul(d).intoArray(dst, o + part * L);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).mul(d).intoArray(dst, o + 16 + part * L);
            }
        }
    }

    private static final java.lang.foreign.ValueLayout.OfShort I16 = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
}
