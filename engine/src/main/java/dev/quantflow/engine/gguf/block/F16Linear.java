package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;

/**
 * GGUF F16: out rows of in little-endian IEEE halves. The Vector API has no f16 lane conversion,
 * so a row is widened with Float.float16ToFloat (one vcvtph2ps each) into an L1 scratch and
 * dotted there.
 */
public final class F16Linear extends BlockLinear {
    public F16Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, 1, 2);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        float[] row = scratch(in);
        dequantize(rowOff, row, 0);
        return VectorMath.dot(row, 0, x, xo, in);
    }

    @Override
    void dequantize(long rowOff, float[] dst, int off) {
        for (int k = 0; k < in; k++) dst[off + k] = Float.float16ToFloat(w.get(I16, rowOff + 2L * k));
    }

    @Override
    public String scheme() {
        return "F16";
    }
}
