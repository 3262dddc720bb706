package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * GGUF F16: out rows of in little-endian IEEE halves, widened in registers. The Vector API has no
 * f16 lane conversion, so: the half's exponent and mantissa shifted into an f32's place and scaled
 * by 2^112 (exact, subnormals included), its sign put back, Inf/NaN (exponent 31) given the f32's.
 */
public final class F16Linear extends BlockLinear {
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.length() * 16));
    private static final FloatVector SCALE = FloatVector.broadcast(F, 0x1p112f);

    public F16Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, 1, 2);
    }

    /** F.length() halves at byte off of w as floats. */
    private FloatVector halves(long off) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S, w, off, LE).convertShape(VectorOperators.S2I, I, 0);
        IntVector magnitude = h.and(0x7FFF);
        VectorMask<Integer> special = magnitude.compare(VectorOperators.GE, 0x7C00);
        FloatVector v = magnitude.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(SCALE);
        IntVector bits = v.reinterpretAsInts().blend(magnitude.lanewise(VectorOperators.LSHL, 13).or(0x70000000), special);
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
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
