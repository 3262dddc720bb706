package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/** GGUF F16: out rows of in little-endian IEEE halves, widened in registers ({@link VectorMath#f16}). */
public final class F16Linear extends BlockLinear {
    public F16Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, 1, 2);
    }

    private FloatVector halves(long off) {
        return VectorMath.f16(w, off);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), k = 0;
        for (; k <= in - 2 * L; k += 2 * L) {
            s0 = halves(rowOff + 2L * k).fma(FloatVector.fromArray(F, x, xo + k), s0);
            s1 = halves(rowOff + 2L * (k + L)).fma(FloatVector.fromArray(F, x, xo + k + L), s1);
        }
        for (; k <= in - L; k += L) s0 = halves(rowOff + 2L * k).fma(FloatVector.fromArray(F, x, xo + k), s0);
        float sum = VectorMath.sumLanes(s0.add(s1));
        for (; k < in; k++) sum += Float.float16ToFloat(w.get(I16, rowOff + 2L * k)) * x[xo + k];
        return sum;
    }

    @Override
    void dequantize(long rowOff, float[] dst, int off) {
        int L = F.length(), k = 0;
        for (; k <= in - L; k += L) halves(rowOff + 2L * k).intoArray(dst, off + k);
        for (; k < in; k++) dst[off + k] = Float.float16ToFloat(w.get(I16, rowOff + 2L * k));
    }

    @Override
    public String scheme() {
        return "F16";
    }
}
