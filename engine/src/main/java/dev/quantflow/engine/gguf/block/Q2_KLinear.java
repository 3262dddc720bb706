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
 * GGUF Q2_K: 2.625 bits per weight, computed directly on the blocks.
 *
 * <pre>
 * block_q2_K (84 bytes, 256 weights = 16 sub-blocks of 16):
 *   uint8_t   scales[16];   // bytes   0..16   per sub-block: scale in the low 4 bits, min in the high 4
 *   uint8_t   qs[64];       // bytes  16..80   2-bit quants
 *   ggml_half d;            // bytes  80..82   super-block scale for the sub-block scales
 *   ggml_half dmin;         // bytes  82..84   super-block scale for the sub-block mins
 *
 * weight e (0..255): n = e / 128, j = (e % 128) / 32, l = e % 32, s = e / 16
 *   q = (qs[32n + l] &gt;&gt; 2j) &amp; 3,   w = d * (scales[s] &amp; 15) * q - dmin * (scales[s] &gt;&gt; 4)
 * </pre>
 */
public final class Q2_KLinear extends SuperBlockLinear {
    static final int BYTES = 84;

    public Q2_KLinear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BYTES);
    }

    @Override
    public String scheme() {
        return "Q2_K";
    }

    @Override
    void decodeScalar(MemorySegment w, long at, float[] dst, int off) {
        KQuantBlocks.q2K(w, at, dst, off);
    }

    @Override
    void decodeVector(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at + 80), dmin = f16(w, at + 82);
        long sc = at, qs = at + 16;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int half = 0; half < 2; half++) {
                    int s = byteAt(w, sc + 8 * n + 2 * j + half);
                    float dl = d * (s & 15), ml = dmin * (s >>> 4);
                    for (int c = 16 * half; c < 16 * half + 16; c += L) {
                        IntVector q = ((IntVector) ByteVector.fromMemorySegment(B, w, qs + 32 * n + c, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF).lanewise(VectorOperators.LSHR, 2 * j).and(3);
                        ((FloatVector) (q).convert(VectorOperators.I2F, 0)).mul(dl).sub(ml).intoArray(dst, off + 128 * n + 32 * j + c);
                    }
                }
    }
}
