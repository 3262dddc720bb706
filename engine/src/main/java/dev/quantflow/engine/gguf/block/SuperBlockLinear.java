package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * What the GGUF k-quant Linears share: a (out, in) matrix stored as ggml writes it, each row
 * in/256 super-blocks of one type, computed on those blocks. The blocks are copied once, as they
 * are, into native kernel memory (same bytes as the file; the mapped pages are then dropped), so
 * the resident weight memory is the tensor's byte size.
 *
 * <p>Activations meet the blocks as ggml's vec_dot_qN_K_q8_K meets them: each x row rounded to
 * Q8_K blocks of 256 first ({@link Q8Activations#q8_K}; -Dquantflow.gguf.fp32-activations=true
 * keeps fp32, as {@link BlockLinear} does). Each super-block is widened in registers to 256
 * floats in an L1 scratch row and the row is then dotted with every activation row of the batch,
 * four at a time, so a batch reads each block once. Every output is summed in one order (two
 * accumulators over alternate vectors, lanes added by {@link VectorMath#sumLanes}) whatever rows
 * it is batched with, and x is rounded per row, so a row's result does not depend on its batch.
 */
abstract class SuperBlockLinear implements RowDecodable {
    static final int QK_K = 256;
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));
    /** The vector decoders take 16 quants L at a time: 4, 8 or 16 float lanes (SSE, AVX2, AVX-512). */
    static final boolean VECTOR = L >= 4 && L <= 16;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private final MemorySegment w;      // global-scope native view of the copied blocks
    private final MemorySegment owner;  // keeps w's memory alive
    private final int out, in, blocksPerRow, blockBytes;
    private final long rowBytes;

    SuperBlockLinear(MemorySegment blocks, int outFeatures, int inFeatures, int blockBytes) {
        if (outFeatures <= 0 || inFeatures <= 0 || inFeatures % QK_K != 0)
            throw new IllegalArgumentException(scheme() + ": in features must be a positive multiple of " + QK_K + " and out positive, got out " + outFeatures + ", in " + inFeatures);
        this.out = outFeatures;
        this.in = inFeatures;
        this.blockBytes = blockBytes;
        this.blocksPerRow = inFeatures / QK_K;
        this.rowBytes = (long) blocksPerRow * blockBytes;
        long size = rowBytes * outFeatures;
        if (blocks.byteSize() != size)
            throw new IllegalArgumentException(scheme() + " (" + outFeatures + " x " + inFeatures + ") needs " + size + " bytes of blocks, got " + blocks.byteSize());
        KernelMemory.View v = KernelMemory.weights(size);
        KernelMemory.Unloader read = new KernelMemory.Unloader(blocks, 0);
        for (long at = 0, step = 1L << 20; at < size; at += step) {   // in steps, dropping the pages read
            long n = Math.min(step, size - at);
            MemorySegment.copy(blocks, at, v.view(), at, n);
            read.readTo(at + n);
        }
        this.w = v.view();
        this.owner = v.owner();
        if (blocks.isMapped()) blocks.unload();   // the copy is read from now on (pages fault back if the tensor is read again)
    }

    /** Super-block at byte at of w (a kernel segment) dequantized into dst[off..off+256), in registers. */
    abstract void decodeVector(MemorySegment w, long at, float[] dst, int off);

    /** The same with scalar code (any segment kind), for species the vector decoder does not take. */
    abstract void decodeScalar(MemorySegment w, long at, float[] dst, int off);

    @Override
    public final int inFeatures() {
        return in;
    }

    @Override
    public final int outFeatures() {
        return out;
    }

    @Override
    public final long weightBytes() {
        return w.byteSize();
    }

    /** Row o of W dequantized into dst[off..off+in) (a tied head's embedding lookup reads one row so). */
    @Override
    public final void decodeRow(int o, float[] dst, int off) {
        if (o < 0 || o >= out) throw new IndexOutOfBoundsException(scheme() + ": row " + o + " of " + out);
        long base = o * rowBytes;
        for (int b = 0; b < blocksPerRow; b++) {
            if (VECTOR) decodeVector(w, base + (long) b * blockBytes, dst, off + b * QK_K);
            else decodeScalar(w, base + (long) b * blockBytes, dst, off + b * QK_K);
        }
    }

    /** A copy of the blocks as stored (out rows of in/256 blocks), e.g. for a checkpoint. */
    public final byte[] blocks() {
        return w.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    @Override
    public final void forward(float[] x, int rows, float[] y) {
        if (rows <= 0) return;
        if (x.length < rows * in || y.length < rows * out)
            throw new IllegalArgumentException(scheme() + ": x needs " + rows * in + " and y " + rows * out + " floats, got " + x.length + " and " + y.length);
        float[] xq = BlockLinear.Q8 ? Q8Activations.q8_K(x, rows, in) : x;
        Parallel.range(out, (long) in * rows, (start, end) -> {
            float[] row = new float[in];
            for (int o = start; o < end; o++) {
                decodeRow(o, row, 0);
                int r = 0;
                for (; r + 4 <= rows; r += 4) dot4(row, xq, r * in, in, y, r * out + o, out);
                for (; r < rows; r++) y[r * out + o] = dot(row, xq, r * in, in);
            }
        });
    }

    /** w . x[xo..xo+n), n a multiple of 2L: accumulators over even and odd vectors. */
    static float dot(float[] w, float[] x, int xo, int n) {
        FloatVector a = FloatVector.zero(F), b = a;
        for (int i = 0; i < n; i += 2 * L) {
            a = FloatVector.fromArray(F, w, i).fma(FloatVector.fromArray(F, x, xo + i), a);
            b = FloatVector.fromArray(F, w, i + L).fma(FloatVector.fromArray(F, x, xo + i + L), b);
        }
        return VectorMath.sumLanes(a.add(b));
    }

    /** dot() for four x rows n apart, into y[yo], y[yo + ys], ...: each w vector is loaded once. */
    static void dot4(float[] w, float[] x, int xo, int n, float[] y, int yo, int ys) {
        FloatVector z = FloatVector.zero(F), a0 = z, b0 = z, a1 = z, b1 = z, a2 = z, b2 = z, a3 = z, b3 = z;
        int x1 = xo + n, x2 = x1 + n, x3 = x2 + n;
        for (int i = 0; i < n; i += 2 * L) {
            FloatVector wa = FloatVector.fromArray(F, w, i), wb = FloatVector.fromArray(F, w, i + L);
            a0 = wa.fma(FloatVector.fromArray(F, x, xo + i), a0);
            b0 = wb.fma(FloatVector.fromArray(F, x, xo + i + L), b0);
            a1 = wa.fma(FloatVector.fromArray(F, x, x1 + i), a1);
            b1 = wb.fma(FloatVector.fromArray(F, x, x1 + i + L), b1);
            a2 = wa.fma(FloatVector.fromArray(F, x, x2 + i), a2);
            b2 = wb.fma(FloatVector.fromArray(F, x, x2 + i + L), b2);
            a3 = wa.fma(FloatVector.fromArray(F, x, x3 + i), a3);
            b3 = wb.fma(FloatVector.fromArray(F, x, x3 + i + L), b3);
        }
        y[yo] = VectorMath.sumLanes(a0.add(b0));
        y[yo + ys] = VectorMath.sumLanes(a1.add(b1));
        y[yo + 2 * ys] = VectorMath.sumLanes(a2.add(b2));
        y[yo + 3 * ys] = VectorMath.sumLanes(a3.add(b3));
    }
}
