package dev.quantflow.engine.gguf.block;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GGUF Q5_1: blocks of 32 weights, 24 bytes, as ggml's block_q5_1:
 * <pre>
 * typedef struct {
 *     ggml_half d;       // scale
 *     ggml_half m;       // min
 *     uint8_t qh[4];     // fifth bits: bit j of the little-endian uint32 belongs to element j
 *     uint8_t qs[16];    // low nibbles: element j in the low nibble of qs[j], element j + 16 in its high nibble
 * } block_q5_1;          // w[j] = d * q[j] + m, q[j] = 4 low bits | fifth bit << 4
 * </pre>
 * The dot of a block is d * sum(q x) + m * sum(x).
 */
public final class Q5_1Linear extends BlockLinear {
    static final int BLOCK = 32, BYTES = 24;

    public Q5_1Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BLOCK, BYTES);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length(), blocks = in / BLOCK, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            int qh = w.get(I32, base + 4);
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 8, LE);
            ByteVector lo = q.and((byte) 0xF).or(FifthBits.of(qh, 0)), hi = q.lanewise(VectorOperators.LSHR, 4).or(FifthBits.of(qh, 16));
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
            int qh = w.get(I32, base + 4);
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 8, LE);
            ByteVector lo = q.and((byte) 0xF).or(FifthBits.of(qh, 0)), hi = q.lanewise(VectorOperators.LSHR, 4).or(FifthBits.of(qh, 16));
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
        return "Q5_1";
    }
}
