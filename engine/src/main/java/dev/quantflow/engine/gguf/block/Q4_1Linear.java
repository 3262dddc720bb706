package dev.quantflow.engine.gguf.block;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GGUF Q4_1: blocks of 32 weights, 20 bytes, as ggml's block_q4_1:
 * <pre>
 * typedef struct {
 *     ggml_half d;       // scale
 *     ggml_half m;       // min
 *     uint8_t qs[16];    // nibbles: element j in the low nibble of qs[j], element j + 16 in its high nibble
 * } block_q4_1;          // w[j] = d * q[j] + m
 * </pre>
 * The dot of a block is d * sum(q x) + m * sum(x).
 */
public final class Q4_1Linear extends BlockLinear {
    static final int BLOCK = 32, BYTES = 20;

    public Q4_1Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BLOCK, BYTES);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length(), blocks = in / BLOCK, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 4, LE);
            ByteVector lo = q.and((byte) 0xF), hi = q.lanewise(VectorOperators.LSHR, 4);
            int xb = xo + b * BLOCK;
            FloatVector s = FloatVector.zero(F), sx = s;
            for (int part = 0; part < parts; part++) {
                FloatVector x0 = FloatVector.fromArray(F, x, xb + part * L), x1 = FloatVector.fromArray(F, x, xb + 16 + part * L);
                s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).fma(x0, s);
                s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).fma(x1, s);
                sx = sx.add(x0).add(x1);
            }
            acc = s.fma(FloatVector.broadcast(F, f16(base)), sx.fma(FloatVector.broadcast(F, f16(base + 2)), acc));
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    @Override
    void dequantize(long rowOff, float[] dst, int off) {
        int L = F.length(), blocks = in / BLOCK, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 4, LE);
            ByteVector lo = q.and((byte) 0xF), hi = q.lanewise(VectorOperators.LSHR, 4);
            FloatVector d = FloatVector.broadcast(F, f16(base)), m = FloatVector.broadcast(F, f16(base + 2));
            int o = off + b * BLOCK;
            for (int part = 0; part < parts; part++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).fma(d, m).intoArray(dst, o + part * L);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).fma(d, m).intoArray(dst, o + 16 + part * L);
            }
        }
    }

    @Override
    boolean quantizesActivations() {
        return true;
    }

    @Override
    public String scheme() {
        return "Q4_1";
    }
}
