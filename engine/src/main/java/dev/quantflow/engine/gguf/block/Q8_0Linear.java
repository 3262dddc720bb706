package dev.quantflow.engine.gguf.block;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GGUF Q8_0: blocks of 32 weights, 34 bytes, as ggml's block_q8_0:
 * <pre>
 * typedef struct {
 *     ggml_half d;       // scale
 *     int8_t    qs[32];  // quants
 * } block_q8_0;          // w[j] = d * qs[j]
 * </pre>
 */
public final class Q8_0Linear extends BlockLinear {
    static final int BLOCK = 32, BYTES = 34;

    public Q8_0Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, BLOCK, BYTES);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        FloatVector acc = FloatVector.zero(F);
        int L = F.length(), blocks = in / BLOCK;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_256, w, base + 2, LE);
            int xb = xo + b * BLOCK;
            FloatVector s = FloatVector.zero(F);
            for (int part = 0; part < BLOCK / L; part++)
                s = ((FloatVector) q.convertShape(VectorOperators.B2F, F, part)).fma(FloatVector.fromArray(F, x, xb + part * L), s);
            acc = s.fma(FloatVector.broadcast(F, f16(base)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    @Override
    void dequantize(long rowOff, float[] dst, int off) {
        int L = F.length(), blocks = in / BLOCK;
        for (int b = 0; b < blocks; b++) {
            long base = rowOff + (long) b * BYTES;
            ByteVector q = ByteVector.fromMemorySegment(ByteVector.SPECIES_256, w, base + 2, LE);
            FloatVector d = FloatVector.broadcast(F, f16(base));
            for (int part = 0; part < BLOCK / L; part++)
                ((FloatVector) q.convertShape(VectorOperators.B2F, F, part)).mul(d).intoArray(dst, off + b * BLOCK + part * L);
        }
    }

    @Override
    boolean quantizesActivations() {
        return true;
    }

    @Override
    public String scheme() {
        return "Q8_0";
    }
}
