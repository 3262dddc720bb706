package dev.quantflow.engine.gguf.block;

/**
 * Activations as ggml's integer block formats meet them: each x row cut into blocks of 32, each
 * block quantized to int8 with its own scale, d = max|x| / 127 (stored as f16), q = round(x / d)
 * half to even, as ggml's AVX quantize_row_q8_0 does. The kernels then read d * q as floats; since
 * |q| <= 127, every product with a 4- or 8-bit weight and every block sum of 32 of them is exact
 * in fp32, so a block's dot equals the integer dot of ggml's vec_dot_*_q8_0 times the two scales.
 */
final class Q8Activations {
    static final int BLOCK = 32;

    private Q8Activations() {}

    /** The rows of x (rows, in), in a multiple of 32, replaced by their 8-bit block quantization, in a new array. */
    static float[] of(float[] x, int rows, int in) {
        float[] out = new float[rows * in];
        for (int b = 0; b < rows * in / BLOCK; b++) {
            int o = b * BLOCK;
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
            if (amax == 0) continue;
            float d = Float.float16ToFloat(Float.floatToFloat16(amax / 127f)), id = 127f / amax;
            for (int j = 0; j < BLOCK; j++) out[o + j] = d * (float) Math.rint(x[o + j] * id);
        }
        return out;
    }
}
