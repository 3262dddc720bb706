package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * VectorMath.f16 (the vector IEEE half widening) against Float.float16ToFloat on every half: the
 * same bits for every non-NaN half (subnormals and -0 included), a NaN for every NaN (the payload
 * is kept but not quieted, which Float.float16ToFloat does; no kernel reads a NaN's bits).
 */
class VectorMathF16Test {
    @Test
    void everyHalfWidensToTheSameFloatBits() {
        int L = VectorMath.F.length();
        short[] halves = new short[65536 + L];
        for (int i = 0; i < 65536; i++) halves[i] = (short) i;   // normals, subnormals, +-0, +-Inf, NaNs with payloads
        float[] lanes = new float[L];
        for (int off = 0; off < 65536; off += L) {
            VectorMath.f16(halves, off).intoArray(lanes, 0);
            for (int j = 0; j < L; j++) {
                short h = halves[off + j];
                if (Float.isNaN(Float.float16ToFloat(h))) {
                    assertThat(lanes[j]).as("half 0x%04x", h & 0xFFFF).isNaN();
                    continue;
                }
                assertThat(Float.floatToRawIntBits(lanes[j])).as("half 0x%04x", h & 0xFFFF).isEqualTo(Float.floatToRawIntBits(Float.float16ToFloat(h)));
            }
        }
    }
}
