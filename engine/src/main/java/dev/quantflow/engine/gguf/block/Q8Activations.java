package dev.quantflow.engine.gguf.block;

/**
 * Activations as ggml's integer dot products meet them: each x row cut into blocks, each block
 * quantized to int8 with its own scale, and the kernels then read d * q as floats. Two formats,
 * chosen by the weight type as ggml's vec_dot_type does:
 * <ul>
 * <li>{@link #q8_0}: blocks of 32, d = f16(max|x| / 127), q = round(x * 127 / max|x|) half to even,
 *     as ggml's AVX quantize_row_q8_0 does; for Q4_0, Q5_0, Q8_0, and for Q4_1/Q5_1, whose q8_1
 *     carries the same d and q (plus s = f16(d * sum q) for the min term, where we use f16(d) * sum q).
 * <li>{@link #q8_K}: blocks of 256 (one k-quant super-block), as quantize_row_q8_K (which ggml's
 *     x86 build runs as its reference code): m = the value of largest magnitude, sign kept,
 *     iscale = -127 / m, q = min(127, round(iscale * x)) half to even, d = 1 / iscale in fp32.
 *     Its bsums (sums of 16 q) only speed up ggml's min term: their sums are exact either way.
 * </ul>
 * Since |q| <= 127, every product with a weight of few bits is exact in fp32 up to the weight's
 * own scale, so a block's dot equals ggml's integer dot times the scales, to fp32 rounding.
 */
final class Q8Activations {
    static final int Q8_0_BLOCK = 32, Q8_K_BLOCK = 256;

    private Q8Activations() {}

    /** The rows of x (rows, in), in a multiple of 32, replaced by their q8_0 quantization, in a new array. */
    static float[] q8_0(float[] x, int rows, int in) {
        byte[] q = new byte[rows * in];
        float[] d = new float[rows * in / Q8_0_BLOCK];
        q8_0(x, rows, in, q, d);
        float[] out = new float[rows * in];
        for (int i = 0; i < out.length; i++) out[i] = d[i / Q8_0_BLOCK] * q[i];
        return out;
    }

    /**
     * q8_0's codes q (integers in [-127, 127], as floats) in a new array, and block b's scale d
     * into d[b]: the parts an integer kernel keeps apart (Q8_0Kernels).
     */
    static float[] q8_0Codes(float[] x, int rows, int in, float[] d) {
        byte[] q = new byte[rows * in];
        q8_0(x, rows, in, q, d);
        float[] out = new float[rows * in];
        for (int i = 0; i < out.length; i++) out[i] = q[i];
        return out;
    }

    /** The q8_0 quantization of the rows of x (rows, in) as codes q (rows * in) and a scale d per block of 32 (0 for a zero block). */
    static void q8_0(float[] x, int rows, int in, byte[] q, float[] d) {
        for (int b = 0; b < rows * in / Q8_0_BLOCK; b++) {
            int o = b * Q8_0_BLOCK;
            float amax = 0;
            for (int j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
            d[b] = 0f;
            if (amax == 0) continue;
            float s = Float.float16ToFloat(Float.floatToFloat16(amax / 127f)), id = 127f / amax;
            d[b] = s;
            for (int j = 0; j < Q8_0_BLOCK; j++) q[o + j] = (byte) Math.rint(x[o + j] * id);
        }
    }

    /** The rows of x (rows, in), in a multiple of 256, replaced by their Q8_K quantization, in a new array. */
    static float[] q8_K(float[] x, int rows, int in) {
        float[] out = new float[rows * in];
        for (int b = 0; b < rows * in / Q8_K_BLOCK; b++) {
            int o = b * Q8_K_BLOCK;
            float amax = 0, max = 0;
            for (int j = 0; j < Q8_K_BLOCK; j++) {
                float a = Math.abs(x[o + j]);
                if (a > amax) {   // the first of equal magnitudes wins, as in ggml
                    amax = a;
                    max = x[o + j];
                }
            }
            if (amax == 0) continue;
            float iscale = -127f / max, d = 1 / iscale;
            for (int j = 0; j < Q8_K_BLOCK; j++) out[o + j] = d * Math.min(127f, (float) Math.rint(iscale * x[o + j]));
        }
        return out;
    }
}
