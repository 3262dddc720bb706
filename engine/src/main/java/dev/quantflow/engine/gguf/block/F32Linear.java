package dev.quantflow.engine.gguf.block;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** GGUF F32: out rows of in little-endian floats, read in place. */
public final class F32Linear extends BlockLinear {
    public F32Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, 1, 4);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), k = 0;
        for (; k <= in - 2 * L; k += 2 * L) {
            s0 = FloatVector.fromMemorySegment(F, w, rowOff + 4L * k, LE).fma(FloatVector.fromArray(F, x, xo + k), s0);
            s1 = FloatVector.fromMemorySegment(F, w, rowOff + 4L * (k + L), LE).fma(FloatVector.fromArray(F, x, xo + k + L), s1);
        }
        for (; k <= in - L; k += L) s0 = FloatVector.fromMemorySegment(F, w, rowOff + 4L * k, LE).fma(FloatVector.fromArray(F, x, xo + k), s0);
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; k < in; k++) sum += w.get(F32, rowOff + 4L * k) * x[xo + k];
        return sum;
    }

    @Override
    void dequantize(long rowOff, float[] dst, int off) {
        MemorySegment.copy(w, F32, rowOff, dst, off, in);
    }

    @Override
    public String scheme() {
        return "F32";
    }
}
