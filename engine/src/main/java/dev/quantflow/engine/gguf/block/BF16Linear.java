package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;

/** GGUF BF16: out rows of in little-endian bfloat16 (the top half of an f32), widened in registers. */
public final class BF16Linear extends BlockLinear {
    public BF16Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        super(blocks, outFeatures, inFeatures, 1, 2);
    }

    @Override
    float dot(long rowOff, float[] x, int xo) {
        return VectorMath.dotBF16(w, rowOff, x, xo, in);
    }

    @Override
    void dequantize(long rowOff, float[] dst, int off) {
        VectorMath.decodeBF16(w, rowOff, dst, off, in);
    }

    @Override
    public String scheme() {
        return "BF16";
    }
}
