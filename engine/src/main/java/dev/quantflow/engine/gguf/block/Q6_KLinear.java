package dev.quantflow.engine.gguf.block;

import static dev.quantflow.engine.gguf.KQuantBlocks.byteAt;
import static dev.quantflow.engine.gguf.KQuantBlocks.f16;

import dev.quantflow.engine.gguf.KQuantBlocks;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GGUF Q6_K: 6.5625 bits per weight, computed directly on the blocks.
 *
 * <pre>
 * block_q6_K (210 bytes, 256 weights = 16 sub-blocks of 16):
 *   uint8_t   ql[128];      // bytes   0..128  low 4 bits of the quants
 *   uint8_t   qh[64];       // bytes 128..192  high 2 bits of the quants
 *   int8_t    scales[16];   // bytes 192..208  signed 8-bit sub-block scales
 *   ggml_half d;            // bytes 208..210  super-block scale
 *
 * weight e (0..255): n = e / 128, k = e % 128, t = k / 32 (0..3), l = k % 32
 *   low  = t = 0: ql[64n + l] &amp; 15,   t = 1: ql[64n + 32 + l] &amp; 15,
 *          t = 2: ql[64n + l] &gt;&gt; 4,    t = 3: ql[64n + 32 + l] &gt;&gt; 4
 *   high = (qh[32n + l] &gt;&gt; 2t) &amp; 3
 *   q = (low | high &lt;&lt; 4) - 32   (-32..31),   w = d * scales[e / 16] * q
 * </pre>
 */
public final class Q6_KLinear extends SuperBlockLinear {
    static final int BYTES = 210;

    public Q6_KLinear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BYTES);
    }

    /** The matrix w quantized as llama.cpp's reference quantizer does ({@link Q6KQuantizer}): the q6_k scheme. */
    public static Q6_KLinear quantize(Tensor w) {
        return new Q6_KLinear(MemorySegment.ofArray(Q6KQuantizer.quantize(w)), w.rows(), w.cols());
    }

    @Override
    public String scheme() {
        return "Q6_K";
    }

    @Override
    void decodeScalar(MemorySegment w, long at, float[] dst, int off) {
        KQuantBlocks.q6K(w, at, dst, off);
    }

    @Override
    void decodeVector(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at + 208);
        for (int n = 0; n < 2; n++) {
            long ql = at + 64 * n, qh = at + 128 + 32 * n, sc = at + 192 + 8 * n;
            for (int l = 0; l < 32; l += L) {
                // the loads and conversions are written out, not helper calls: in the head's big compiled loop C2 stopped
                // inlining the helpers ("callee uses too much stack") and ran the Vector API's Java fallback (JFR)
                IntVector a = ((IntVector) ByteVector.fromMemorySegment(B, w, ql + l, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
                IntVector b = ((IntVector) ByteVector.fromMemorySegment(B, w, ql + 32 + l, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
                IntVector h = ((IntVector) ByteVector.fromMemorySegment(B, w, qh + l, LE).convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
                int is = l / 16, o = off + 128 * n + l;
                IntVector q1 = a.and(15).or(h.and(3).lanewise(VectorOperators.LSHL, 4));
                IntVector q2 = b.and(15).or(h.and(12).lanewise(VectorOperators.LSHL, 2));
                IntVector q3 = a.lanewise(VectorOperators.LSHR, 4).or(h.and(48));
                IntVector q4 = b.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 2).and(48));
                ((FloatVector) (q1.sub(32)).convert(VectorOperators.I2F, 0)).mul(d * KQuantBlocks.q6KScale(w, sc + is)).intoArray(dst, o);
                ((FloatVector) (q2.sub(32)).convert(VectorOperators.I2F, 0)).mul(d * KQuantBlocks.q6KScale(w, sc + is + 2)).intoArray(dst, o + 32);
                ((FloatVector) (q3.sub(32)).convert(VectorOperators.I2F, 0)).mul(d * KQuantBlocks.q6KScale(w, sc + is + 4)).intoArray(dst, o + 64);
                ((FloatVector) (q4.sub(32)).convert(VectorOperators.I2F, 0)).mul(d * KQuantBlocks.q6KScale(w, sc + is + 6)).intoArray(dst, o + 96);
            }
        }
    }

}
