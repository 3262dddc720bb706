package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.gguf.block.Q8_0Kernels;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q8_0Kernels' one-row path before h-avx2, kept verbatim over the same packed layout: group1 (per
 * 8 or 16 rows one byte load, widening, convert, broadcast and FMA per column, four chains) and
 * VectorMath.f16 as it was (the shifted half bits times 2^112 in float, which multiplies a float
 * subnormal for a subnormal half). Activations rounded to q8_0 codes as Q8Activations.q8_0Codes
 * does. One x row only, out a multiple of the group size.
 */
final class Q8_0Cur {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int ROWS = F.length(), BLOCK = 32, BYTES = 34;
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, ROWS * 8)));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(ROWS * 16));
    private static final FloatVector F16_SCALE = FloatVector.broadcast(F, 0x1p112f);
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private final MemorySegment w, owner;
    private final int out, in;

    Q8_0Cur(MemorySegment blocks, int out, int in) {
        if (out % ROWS != 0 || ROWS < 8) throw new IllegalArgumentException("q8_0Cur: out " + out + " must be a multiple of " + ROWS + " (and the species at least 256 bits)");
        KernelMemory.View v = KernelMemory.weights((long) out * in / BLOCK * BYTES);
        Q8_0Kernels.pack(blocks, v.view(), out, in);
        this.w = v.view();
        this.owner = v.owner();
        this.out = out;
        this.in = in;
    }

    void forward(float[] x, int rows, float[] y) {
        if (rows != 1) throw new IllegalArgumentException("q8_0Cur is a decode kernel: rows must be 1");
        int nb = in / BLOCK;
        float[] dx = new float[nb], xq = codes(x, in, dx);
        long rowBytes = (long) nb * BYTES;
        Parallel.range(out / ROWS, (long) ROWS * in, (first, last) -> {
            for (int g = first; g < last; g++) group1(w, g * ROWS * rowBytes, nb, xq, dx, y, g * ROWS);
        });
    }

    /** Q8Activations.q8_0Codes of one row. */
    private static float[] codes(float[] x, int in, float[] d) {
        float[] q = new float[in];
        for (int b = 0; b < in / BLOCK; b++) {
            int o = b * BLOCK;
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
            d[b] = 0f;
            if (amax == 0) continue;
            float s = Float.float16ToFloat(Float.floatToFloat16(amax / 127f)), id = 127f / amax;
            d[b] = s;
            for (int j = 0; j < BLOCK; j++) q[o + j] = (byte) Math.rint(x[o + j] * id);
        }
        return q;
    }

    private static FloatVector codes(MemorySegment w, long at) {
        return (FloatVector) ByteVector.fromMemorySegment(B, w, at, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    private static FloatVector x(float[] xq, int i) {
        return FloatVector.broadcast(F, xq[i]);
    }

    private static void group1(MemorySegment w, long go, int nb, float[] xq, float[] dx, float[] y, int yo) {
        FloatVector acc = FloatVector.zero(F);
        long p = go;
        for (int b = 0; b < nb; b++, p += (long) BYTES * ROWS) {
            int xb = b * BLOCK;
            FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
            for (int k = 0; k < BLOCK; k += 4) {
                long at = p + (long) k * ROWS;
                c0 = codes(w, at).fma(x(xq, xb + k), c0);
                c1 = codes(w, at + ROWS).fma(x(xq, xb + k + 1), c1);
                c2 = codes(w, at + 2 * ROWS).fma(x(xq, xb + k + 2), c2);
                c3 = codes(w, at + 3 * ROWS).fma(x(xq, xb + k + 3), c3);
            }
            FloatVector scale = f16(w, p + (long) BLOCK * ROWS);
            acc = c0.add(c1).add(c2.add(c3)).fma(scale.mul(dx[b]), acc);
        }
        acc.intoArray(y, yo);
    }

    /** VectorMath.f16 before h-avx2. */
    private static FloatVector f16(MemorySegment w, long at) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, at, LE).convertShape(VectorOperators.S2I, I, 0);
        IntVector magnitude = h.and(0x7FFF);
        VectorMask<Integer> special = magnitude.compare(VectorOperators.GE, 0x7C00);
        IntVector shifted = magnitude.lanewise(VectorOperators.LSHL, 13);
        IntVector bits = shifted.reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts().blend(shifted.or(0x70000000), special);
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }
}
