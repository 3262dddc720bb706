package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.gguf.GgmlType;

/**
 * Float64 dequantization of the k-quant super-blocks, written per weight from the block specs of
 * ggml (ggml-common.h / dequantize_row_*_K), independently of the kernels: weight e of a block is
 * computed from the bytes b[] of that block alone.
 */
final class KQuantReference {
    private KQuantReference() {}

    static double[] dequantize(GgmlType type, byte[] bytes, long elements) {
        int nb = (int) (elements / 256), size = type.bytesPerBlock;
        double[] out = new double[nb * 256];
        int[] b = new int[size];
        for (int blk = 0; blk < nb; blk++) {
            for (int i = 0; i < size; i++) b[i] = bytes[blk * size + i] & 0xFF;
            for (int e = 0; e < 256; e++) out[blk * 256 + e] = weight(type, b, e);
        }
        return out;
    }

    private static double half(int[] b, int at) {
        return Float.float16ToFloat((short) (b[at] | b[at + 1] << 8));
    }

    /** Q4_K/Q5_K 6-bit scale (min = false) or min of sub-block s from the 12 bytes at sc. */
    private static int k4(int[] b, int sc, int s, boolean min) {
        if (s < 4) return b[sc + s + (min ? 4 : 0)] & 0x3F;
        int high = b[sc + s - 4 + (min ? 4 : 0)] >> 6;
        int low = min ? b[sc + s + 4] >> 4 : b[sc + s + 4] & 0xF;
        return low + 16 * high;
    }

    static double weight(GgmlType type, int[] b, int e) {
        int s16 = e / 16, s32 = e / 32, n = e / 128, j = e % 128 / 32, l = e % 32;
        switch (type) {
            case Q2_K -> {
                double d = half(b, 80), dmin = half(b, 82);
                int sc = b[s16], q = (b[16 + 32 * n + l] >> (2 * j)) % 4;
                return d * (sc % 16) * q - dmin * (sc / 16);
            }
            case Q3_K -> {
                double d = half(b, 108);
                int low = s16 < 8 ? b[96 + s16] % 16 : b[96 + s16 - 8] / 16;
                int high = (b[96 + 8 + s16 % 4] >> (2 * (s16 / 4))) % 4;
                int sc = low + 16 * high - 32;
                int q = (b[32 + 32 * n + l] >> (2 * j)) % 4;
                boolean hbit = ((b[l] >> (4 * n + j)) & 1) != 0;
                return d * sc * (hbit ? q : q - 4);
            }
            case Q4_K -> {
                double d = half(b, 0), dmin = half(b, 2);
                int byt = b[16 + 32 * (e / 64) + l];
                int q = s32 % 2 == 0 ? byt % 16 : byt / 16;
                return d * k4(b, 4, s32, false) * q - dmin * k4(b, 4, s32, true);
            }
            case Q5_K -> {
                double d = half(b, 0), dmin = half(b, 2);
                int byt = b[48 + 32 * (e / 64) + l];
                int q = (s32 % 2 == 0 ? byt % 16 : byt / 16) + 16 * ((b[16 + l] >> s32) & 1);
                return d * k4(b, 4, s32, false) * q - dmin * k4(b, 4, s32, true);
            }
            case Q6_K -> {
                double d = half(b, 208);
                int sc = (byte) b[192 + s16];
                int t = j, ql = b[64 * n + (t % 2 == 1 ? 32 : 0) + l];
                int low = t < 2 ? ql % 16 : ql / 16;
                int high = (b[128 + 32 * n + l] >> (2 * t)) % 4;
                return d * sc * (low + 16 * high - 32);
            }
            default -> throw new IllegalArgumentException(type.toString());
        }
    }
}
