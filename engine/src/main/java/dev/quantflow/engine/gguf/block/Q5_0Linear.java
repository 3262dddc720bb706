package dev.quantflow.engine.gguf.block;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GGUF Q5_0: blocks of 32 weights, 22 bytes, as ggml's block_q5_0:
 * <pre>
 * typedef struct {
 *     ggml_half d;       // scale
 *     uint8_t qh[4];     // fifth bits: bit j of the little-endian uint32 belongs to element j
 *     uint8_t qs[16];    // low nibbles: element j in the low nibble of qs[j], element j + 16 in its high nibble
 * } block_q5_0;          // w[j] = d * (q[j] - 16), q[j] = 4 low bits | fifth bit << 4
 * </pre>
 */
public final class Q5_0Linear extends BlockLinear {
    static final int BLOCK = 32, BYTES = 22;

    public Q5_0Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BLOCK, BYTES);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length(), blocks = in / BLOCK, parts = 16 / L;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            int qh = w.get(I32, base + 2);
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 6, LE);
            ByteVector lo = q.and((byte) 0xF).or(FifthBits.of(qh, 0)).sub((byte) 16), hi = q.lanewise(VectorOperators.LSHR, 4).or(FifthBits.of(qh, 16)).sub((byte) 16);
            int xb = xo + b * BLOCK;
            FloatVector s = FloatVector.zero(F);
            for (int part = 0; part < parts; part++) {
                FloatVector x0 = FloatVector.fromArray(F, x, xb + part * L), x1 = FloatVector.fromArray(F, x, xb + 16 + part * L);
                s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, part)).fma(x0, s);
                s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, part)).fma(x1, s);
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
            int qh = w.get(I32, base + 2);
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_128, w, base + 6, LE);
            ByteVector lo = q.and((byte) 0xF).or(FifthBits.of(qh, 0)).sub((byte) 16), hi = q.lanewise(VectorOperators.LSHR, 4).or(FifthBits.of(qh, 16)).sub((byte) 16);
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
        return "Q5_0";
    }
}
