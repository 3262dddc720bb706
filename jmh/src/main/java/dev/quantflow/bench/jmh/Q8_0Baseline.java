package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.PanelMatmul;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * GGUF Q8_0Linear before its repacked kernel (h-q8i), kept verbatim over the same bytes: ggml's
 * row-major 34-byte blocks read in place, one block of one row at a time with a lane reduction per
 * row (decode), and a dequantized panel on PanelMatmul's dense tile (a batch); activations rounded
 * to q8_0 blocks as Q8Activations.q8_0 does.
 */
final class Q8_0Baseline {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int BLOCK = 32, BYTES = 34;
    private final MemorySegment w, owner;
    private final int out, in;
    private final long rowBytes;

    Q8_0Baseline(MemorySegment blocks, int out, int in) {
        KernelMemory.View v = KernelMemory.of(blocks);
        this.w = v.view();
        this.owner = v.owner();
        this.out = out;
        this.in = in;
        this.rowBytes = (long) in / BLOCK * BYTES;
    }

    void forward(float[] input, int rows, float[] y) {
        float[] x = q8_0(input, rows, in);
        if (rows == 1) {
            Parallel.range(out, in, (s, e) -> {
                for (int o = s; o < e; o++) y[o] = dot(o * rowBytes, x, 0);
            });
            return;
        }
        PanelMatmul.forward(out, in, in, (o, dst, off) -> dequantize(o * rowBytes, dst, off), null, x, rows, y);
    }

    private float f16(long off) {
        return Float.float16ToFloat(w.get(I16, off));
    }

    private float dot(long rowOff, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length(), blocks = in / BLOCK;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_256, w, base + 2, ByteOrder.LITTLE_ENDIAN);
            int xb = xo + b * BLOCK;
            FloatVector s = FloatVector.zero(F);
            for (int part = 0; part < BLOCK / L; part++)
                s = ((FloatVector) q.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xb + part * L), s);
            acc = s.fma(FloatVector.broadcast(F, f16(base)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    private void dequantize(long rowOff, float[] dst, int off) {
        int L = F.length(), blocks = in / BLOCK;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_256, w, base + 2, ByteOrder.LITTLE_ENDIAN);
            FloatVector d = FloatVector.broadcast(F, f16(base));
            for (int part = 0; part < BLOCK / L; part++)
                ((FloatVector) q.convertShape(VectorOperators.B2F, F, part)).mul(d).intoArray(dst, off + b * BLOCK + part * L);
        }
    }

    private static float[] q8_0(float[] x, int rows, int in) {
        float[] out = new float[rows * in];
        for (int b = 0; b < rows * in / BLOCK; b++) {
            int o = b * BLOCK;
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
            if (amax == 0) continue;
            float d = Float.float16ToFloat(Float.floatToFloat16(amax / 127f)), id = 127f / amax;
            for (int j = 0; j < BLOCK; j++) out[o + j] = d * (float) Math.rint(x[o + j] * id);
        }
        return out;
    }

    /** Random Q8_0 blocks of an (out, in) matrix: any codes, small finite f16 scales, native (arena's). */
    static MemorySegment randomBlocks(int out, int in, java.util.SplittableRandom rnd, java.lang.foreign.Arena arena) {
        long bytes = (long) out * in / BLOCK * BYTES;
        MemorySegment s = arena.allocate(bytes, 64);
        for (long i = 0; i < bytes; i++) s.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
        for (long b = 0; b < bytes / BYTES; b++) s.set(I16, b * BYTES, Float.floatToFloat16((float) (rnd.nextDouble() * 1e-3)));
        return s;
    }
}
