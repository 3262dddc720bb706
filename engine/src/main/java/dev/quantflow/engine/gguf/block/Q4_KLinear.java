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
 * GGUF Q4_K: 4.5 bits per weight, computed directly on the blocks.
 *
 * <pre>
 * block_q4_K (144 bytes, 256 weights = 8 sub-blocks of 32):
 *   ggml_half d;            // bytes   0..2    super-block scale for the sub-block scales
 *   ggml_half dmin;         // bytes   2..4    super-block scale for the sub-block mins
 *   uint8_t   scales[12];   // bytes   4..16   8 scales and 8 mins, 6 bits each (packing below)
 *   uint8_t   qs[128];      // bytes  16..144  4-bit quants
 *
 * sub-block s (0..7): 6-bit scale sc_s and min m_s from scales[] (k4 packing):
 *   s < 4:  sc = scales[s] &amp; 63,                            m = scales[s+4] &amp; 63
 *   s >= 4: sc = (scales[s+4] &amp; 15) | (scales[s-4] &gt;&gt; 6) &lt;&lt; 4,  m = (scales[s+4] &gt;&gt; 4) | (scales[s] &gt;&gt; 6) &lt;&lt; 4
 * weight e (0..255), j = e / 64, l = e % 32:
 *   q = e % 64 &lt; 32 ? qs[32j + l] &amp; 15 : qs[32j + l] &gt;&gt; 4,   s = e / 32
 *   w = d * sc_s * q - dmin * m_s
 * </pre>
 */
public final class Q4_KLinear extends SuperBlockLinear {
    static final int BYTES = 144;

    public Q4_KLinear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BYTES);
    }

    @Override
    public String scheme() {
        return "Q4_K";
    }

    @Override
    void decodeScalar(MemorySegment w, long at, float[] dst, int off) {
        KQuantBlocks.q4K(w, at, dst, off);
    }

    @Override
    void decodeVector(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at), dmin = f16(w, at + 2);
        long sc = at + 4, qs = at + 16;
        for (int j = 0; j < 4; j++) {
            float d1 = d * KQuantBlocks.q4KScaleMin(w, sc, 2 * j, 0), m1 = dmin * KQuantBlocks.q4KScaleMin(w, sc, 2 * j, 4);
            float d2 = d * KQuantBlocks.q4KScaleMin(w, sc, 2 * j + 1, 0), m2 = dmin * KQuantBlocks.q4KScaleMin(w, sc, 2 * j + 1, 4);
            for (int c = 0; c < 32; c += L) {
                IntVector v = ((IntVector) ByteVector.fromMemorySegment(B, w, qs + 32 * j + c, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
                ((FloatVector) (v.and(15)).convert(VectorOperators.I2F, 0)).mul(d1).sub(m1).intoArray(dst, off + 64 * j + c);
                ((FloatVector) (v.lanewise(VectorOperators.LSHR, 4)).convert(VectorOperators.I2F, 0)).mul(d2).sub(m2).intoArray(dst, off + 64 * j + 32 + c);
            }
        }
    }
}
