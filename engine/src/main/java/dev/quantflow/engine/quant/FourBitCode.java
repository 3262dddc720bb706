package dev.quantflow.engine.quant;

import java.util.Arrays;
import java.util.Locale;

/**
 * The two 4-bit code tables of bitsandbytes (functional.get_4bit_type), each 16 values in [-1, 1]
 * indexed by a 4-bit code and multiplied by the block's absmax.
 */
public enum FourBitCode {
    /** QLoRA's NormalFloat4: the quantiles of N(0,1) scaled to [-1, 1], exact zero. */
    NF4(new float[] {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
            -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
            0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f}),
    /**
     * bitsandbytes' FP4 (e2m1 with its own exponent bias): code bit 3 the sign, bits 2-1 the exponent,
     * bit 0 the mantissa; magnitudes 0, 0.0625 (subnormal), 8, 12, 4, 6, 2, 3 for codes 0..7, divided by
     * the largest (12) in float32. Code 8 is the zero of get_4bit_type's "-0" (a Python int, so +0).
     */
    FP4(fp4());

    private final float[] values;

    FourBitCode(float[] values) {
        this.values = values;
    }

    /** The 16 values in code order (not a copy is not made: do not modify). */
    public float[] table() {
        return values;
    }

    public String schemeName() {
        return name().toLowerCase(Locale.ROOT);
    }

    private static float[] fp4() {
        float[] m = {0f, 0.0625f, 8f, 12f, 4f, 6f, 2f, 3f};
        float[] v = new float[16];
        for (int c = 0; c < 8; c++) {
            v[c] = m[c] / 12f;
            v[c + 8] = c == 0 ? 0f : -m[c] / 12f;
        }
        return v;
    }

    /** bitsandbytes' rule: argmin |v - value|, ties (and NaN, from an all-zero block) to the lowest code. */
    int nearest(float v) {
        int best = 0;
        float bestDiff = Math.abs(v - values[0]);
        for (int c = 1; c < 16; c++) {
            float d = Math.abs(v - values[c]);
            if (d < bestDiff) {
                best = c;
                bestDiff = d;
            }
        }
        return best;
    }

    @Override
    public String toString() {
        return schemeName() + Arrays.toString(values);
    }
}
