package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.model.Tensor;

/**
 * fp32 rows to GGUF Q6_K blocks (layout in {@code Q6_KLinear}), with the semantics of llama.cpp's
 * reference quantizer (quantize_row_q6_K_ref, what llama-quantize runs without an importance
 * matrix), so a row quantizes to the bytes llama.cpp writes for it:
 * <ul>
 * <li>each sub-block of 16 gets a float scale from a search (make_qx_quants, rmse_type 1): codes
 *     -32..31 rounded at 19 trial inverse scales -(32 + 0.1 k) / max (k = -9..9; max the signed
 *     value of largest magnitude), keeping the least-squares scale of the codes with the largest
 *     (sum w x l)^2 / sum w l^2, weights w = x^2;</li>
 * <li>the 16 scales become int8 under one fp16 super-block d = max_scale / -128 (max_scale the
 *     scale of largest magnitude), each min(127, round(scale * -128 / max_scale));</li>
 * <li>the codes are rounded again against the stored d * scale (what the decoder multiplies by).</li>
 * </ul>
 * Arithmetic in float in llama.cpp's order; rounding to nearest, ties to even (its nearest_int).
 */
public final class Q6KQuantizer {
    public static final int QK_K = 256, BLOCK_BYTES = 210;
    private static final float GROUP_MAX_EPS = 1e-15f;

    private Q6KQuantizer() {}

    /** Bytes of one row of cols weights (cols a multiple of 256). */
    public static long rowBytes(int cols) {
        if (cols <= 0 || cols % QK_K != 0)
            throw new IllegalArgumentException("q6_k: rows must have a positive multiple of " + QK_K + " columns, got " + cols);
        return (long) cols / QK_K * BLOCK_BYTES;
    }

    /** The (rows, cols) matrix w, read a row at a time, as Q6_K blocks: rows x cols/256 blocks of 210 bytes. */
    public static byte[] quantize(Tensor w) {
        if (w.shape().length != 2) throw new IllegalArgumentException(w + " is not a matrix");
        int rows = w.rows(), cols = w.cols();
        long rb = rowBytes(cols);
        if (rb * rows > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("q6_k: " + w.name() + " is too large for one array");
        byte[] out = new byte[(int) (rb * rows)];
        Parallel.range(rows, (long) cols * 40, (s, e) -> {
            float[] row = new float[cols];
            for (int r = s; r < e; r++) {
                w.readFloats((long) r * cols, row, 0, cols);
                quantizeRow(row, 0, cols, out, (int) (r * rb));
            }
        });
        return out;
    }

    /** x[xo .. xo + n) (n a multiple of 256) into n / 256 blocks at dst[at..]. */
    public static void quantizeRow(float[] x, int xo, int n, byte[] dst, int at) {
        rowBytes(n);
        byte[] codes = new byte[QK_K];   // biased codes 0..63
        float[] scales = new float[QK_K / 16];
        for (int b = 0; b < n / QK_K; b++) block(x, xo + b * QK_K, codes, scales, dst, at + b * BLOCK_BYTES);
    }

    private static void block(float[] x, int xo, byte[] codes, float[] scales, byte[] dst, int at) {
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float s = subBlockScale(x, xo + 16 * ib, codes, 16 * ib);
            scales[ib] = s;
            if (Math.abs(s) > maxAbsScale) {
                maxAbsScale = Math.abs(s);
                maxScale = s;
            }
        }
        java.util.Arrays.fill(dst, at, at + BLOCK_BYTES, (byte) 0);
        if (maxAbsScale < GROUP_MAX_EPS) return;   // all zero: zero bytes, d = +0
        float iscale = -128f / maxScale;
        short dBits = Float.floatToFloat16(1 / iscale);
        dst[at + 208] = (byte) dBits;
        dst[at + 209] = (byte) (dBits >>> 8);
        float d = Float.float16ToFloat(dBits);
        for (int ib = 0; ib < 16; ib++) {
            int sc = Math.min(127, nearestInt(iscale * scales[ib]));
            dst[at + 192 + ib] = (byte) sc;
            float ds = d * sc;
            if (ds == 0) continue;   // codes stay as the scale search left them (llama.cpp's `if (!d) continue`)
            for (int i = 0; i < 16; i++) codes[16 * ib + i] = (byte) (clamp(nearestInt(x[xo + 16 * ib + i] / ds), -32, 31) + 32);
        }
        for (int half = 0; half < 2; half++) {
            int ql = at + 64 * half, qh = at + 128 + 32 * half, c = 128 * half;
            for (int l = 0; l < 32; l++) {
                int q1 = codes[c + l], q2 = codes[c + l + 32], q3 = codes[c + l + 64], q4 = codes[c + l + 96];
                dst[ql + l] = (byte) (q1 & 15 | (q3 & 15) << 4);
                dst[ql + l + 32] = (byte) (q2 & 15 | (q4 & 15) << 4);
                dst[qh + l] = (byte) (q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
            }
        }
    }

    /** make_qx_quants(16, 32, x, L, rmse_type 1): the sub-block's scale; its biased codes into codes[co..co+16). */
    private static float subBlockScale(float[] x, int xo, byte[] codes, int co) {
        final int n = 16, nmax = 32;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xo + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) codes[co + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            float xi = x[xo + i];
            int l = clamp(nearestInt(iscale * xi), -nmax, nmax - 1);
            codes[co + i] = (byte) (l + nmax);
            float w = xi * xi;
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                float xi = x[xo + i];
                int l = clamp(nearestInt(iscale * xi), -nmax, nmax - 1);
                float w = xi * xi;
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) codes[co + i] = (byte) (nmax + clamp(nearestInt(iscale * x[xo + i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /** llama.cpp's nearest_int: round half to even (exact for |v| < 2^22, the codes' range). */
    static int nearestInt(float v) {
        return (int) Math.rint(v);
    }

    private static int clamp(int v, int lo, int hi) {
        return Math.max(lo, Math.min(hi, v));
    }
}
