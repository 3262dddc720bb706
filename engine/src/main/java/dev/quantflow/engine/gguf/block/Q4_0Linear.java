package dev.quantflow.engine.gguf.block;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GGUF Q4_0: blocks of 32 weights, 18 bytes, as ggml's block_q4_0:
 * <pre>
 * typedef struct {
 *     ggml_half d;       // scale
 *     uint8_t qs[16];    // nibbles: element j in the low nibble of qs[j], element j + 16 in its high nibble
 * } block_q4_0;          // w[j] = d * (q[j] - 8)
 * </pre>
 */
public final class Q4_0Linear extends BlockLinear {
    static final int BLOCK = 32, BYTES = 18;

    public Q4_0Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BLOCK, BYTES);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length(), blocks = in / BLOCK, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 2, LE);
            ByteVector lo = q.and((byte) 0xF).sub((byte) 8), hi = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
            int xb = xo + b * BLOCK;
            FloatVector s = FloatVector.zero(F);
            for (int part = 0; part < parts; part++) {
                s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xb + part * L), s);
                s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xb + 16 + part * L), s);
            }
            acc = s.fma(FloatVector.broadcast(F, f16(base)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    @Override
    void dequantize(long rowOff, float[] dst, int off) {
        int L = F.length(), blocks = in / BLOCK, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 2, LE);
            ByteVector lo = q.and((byte) 0xF).sub((byte) 8), hi = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
            FloatVector d = FloatVector.broadcast(F, f16(base));
            int o = off + b * BLOCK;
            for (int part = 0; part < parts; part++) {
                ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).mul(d).intoArray(dst, o + part * L);
                ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).mul(d).intoArray(dst, o + 16 + part * L);
            }
        }
    }

    @Override
    boolean quantizesActivations() {
        return true;
    }

    @Override
    public String scheme() {
        return "Q4_0";
    }
}
