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
 * GGUF Q3_K: 3.4375 bits per weight, computed directly on the blocks.
 *
 * <pre>
 * block_q3_K (110 bytes, 256 weights = 16 sub-blocks of 16):
 *   uint8_t   hmask[32];    // bytes   0..32   3rd bit of the quants
 *   uint8_t   qs[64];       // bytes  32..96   low 2 bits of the quants
 *   uint8_t   scales[12];   // bytes  96..108  16 scales, 6 bits each (packing below)
 *   ggml_half d;            // bytes 108..110  super-block scale
 *
 * sub-block s (0..15): low 4 bits = s &lt; 8 ? scales[s] &amp; 15 : scales[s-8] &gt;&gt; 4,
 *   high 2 bits = (scales[8 + s % 4] &gt;&gt; 2(s / 4)) &amp; 3,   sc_s = (low | high &lt;&lt; 4) - 32   (-32..31)
 * weight e (0..255): n = e / 128, j = (e % 128) / 32, l = e % 32, s = e / 16
 *   low2 = (qs[32n + l] &gt;&gt; 2j) &amp; 3,   hbit = (hmask[l] &gt;&gt; (4n + j)) &amp; 1
 *   q = low2 - (hbit ? 0 : 4)   (-4..3),   w = d * sc_s * q
 * </pre>
 */
public final class Q3_KLinear extends SuperBlockLinear {
    static final int BYTES = 110;

    public Q3_KLinear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BYTES);
    }

    @Override
    public String scheme() {
        return "Q3_K";
    }

    @Override
    void decodeScalar(MemorySegment w, long at, float[] dst, int off) {
        KQuantBlocks.q3K(w, at, dst, off);
    }

    @Override
    void decodeVector(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at + 108);
        long hm = at, qs = at + 32, sc = at + 96;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int half = 0; half < 2; half++) {
                    float dl = d * KQuantBlocks.q3KScale(w, sc, 8 * n + 2 * j + half);
                    for (int c = 16 * half; c < 16 * half + 16; c += L) {
                        IntVector q = ((IntVector) ByteVector.fromMemorySegment(B, w, qs + 32 * n + c, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF).lanewise(VectorOperators.LSHR, 2 * j).and(3);
                        IntVector h = ((IntVector) ByteVector.fromMemorySegment(B, w, hm + c, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF).lanewise(VectorOperators.LSHR, 4 * n + j).and(1);
                        ((FloatVector) (q.add(h.lanewise(VectorOperators.LSHL, 2)).sub(4)).convert(VectorOperators.I2F, 0)).mul(dl).intoArray(dst, off + 128 * n + 32 * j + c);
                    }
                }
    }
}
