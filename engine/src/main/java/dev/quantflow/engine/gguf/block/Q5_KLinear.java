package dev.quantflow.engine.gguf.block;

import static dev.quantflow.engine.gguf.KQuantBlocks.byteAt;
import static dev.quantflow.engine.gguf.KQuantBlocks.f16;

import dev.quantflow.engine.gguf.KQuantBlocks;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GGUF Q5_K: 5.5 bits per weight, computed directly on the blocks.
 *
 * <pre>
 * block_q5_K (176 bytes, 256 weights = 8 sub-blocks of 32):
 *   ggml_half d;            // bytes   0..2    super-block scale for the sub-block scales
 *   ggml_half dmin;         // bytes   2..4    super-block scale for the sub-block mins
 *   uint8_t   scales[12];   // bytes   4..16   8 scales and 8 mins, 6 bits each (packed as in Q4_K)
 *   uint8_t   qh[32];       // bytes  16..48   5th bit of the quants
 *   uint8_t   qs[128];      // bytes  48..176  low 4 bits of the quants
 *
 * weight e (0..255), s = e / 32 (sub-block), j = e / 64, l = e % 32:
 *   low = s even ? qs[32j + l] &amp; 15 : qs[32j + l] &gt;&gt; 4,   high = (qh[l] &gt;&gt; s) &amp; 1
 *   q = low | high &lt;&lt; 4   (0..31),   w = d * sc_s * q - dmin * m_s
 * </pre>
 */
public final class Q5_KLinear extends SuperBlockLinear {
    static final int BYTES = 176;

    public Q5_KLinear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BYTES);
    }

    @Override
    public String scheme() {
        return "Q5_K";
    }

    @Override
    void decodeScalar(MemorySegment w, long at, float[] dst, int off) {
        KQuantBlocks.q5K(w, at, dst, off);
    }

    @Override
    void decodeVector(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at), dmin = f16(w, at + 2);
        long sc = at + 4, qh = at + 16, qs = at + 48;
        for (int j = 0; j < 4; j++) {
            float d1 = d * KQuantBlocks.q4KScaleMin(w, sc, 2 * j, 0), m1 = dmin * KQuantBlocks.q4KScaleMin(w, sc, 2 * j, 4);
            float d2 = d * KQuantBlocks.q4KScaleMin(w, sc, 2 * j + 1, 0), m2 = dmin * KQuantBlocks.q4KScaleMin(w, sc, 2 * j + 1, 4);
            for (int c = 0; c < 32; c += L) {
                IntVector v = ((IntVector) ByteVector.fromMemorySegment(B, w, qs + 32 * j + c, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF), h = ((IntVector) ByteVector.fromMemorySegment(B, w, qh + c, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
                IntVector lo = v.and(15).or(h.lanewise(VectorOperators.LSHR, 2 * j).and(1).lanewise(VectorOperators.LSHL, 4));
                IntVector hi = v.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 2 * j + 1).and(1).lanewise(VectorOperators.LSHL, 4));
                ((FloatVector) (lo).convert(VectorOperators.I2F, 0)).mul(d1).sub(m1).intoArray(dst, off + 64 * j + c);
                ((FloatVector) (hi).convert(VectorOperators.I2F, 0)).mul(d2).sub(m2).intoArray(dst, off + 64 * j + 32 + c);
            }
        }
    }
}
