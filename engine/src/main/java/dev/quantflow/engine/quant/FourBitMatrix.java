package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.model.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * 4-bit codebook codes (NF4 or FP4) of a (rows, cols) weight, flattened into blocks of blockSize
 * with one absmax each, exactly as bitsandbytes' quantize_4bit: each weight scaled by the
 * reciprocal of its block's fp32 absmax, clamped to [-1, 1], given the nearest code (ties to the
 * lowest). With double quantization (QLoRA; bitsandbytes' compress_statistics) the absmax values
 * have their mean subtracted (one fp32 offset) and are quantized by quantize_blockwise in blocks
 * of 256 against bitsandbytes' signed dynamic 8-bit map: absmax ~ map[code] * scale2 + offset.
 * Codes 0..15, one per byte here; stored two per byte.
 */
public record FourBitMatrix(FourBitCode code, int rows, int cols, int blockSize, byte[] q, float[] absmaxFp32,
                            byte[] absmaxQ, float[] absmaxMap, float[] absmaxScales, float absmaxOffset) {
    /** The second level's block (bitsandbytes quantize_4bit: quantize_blockwise(absmax - offset, blocksize=256)). */
    public static final int DQ_BLOCK = 256;
    /** bitsandbytes' create_dynamic_map(signed=True), the nested absmax map. */
    public static final float[] DYNAMIC_MAP = dynamicMap();

    public boolean doubleQuant() {
        return absmaxQ != null;
    }

    public int blocks() {
        return (int) (((long) rows * cols + blockSize - 1) / blockSize);
    }

    /** The block's absmax as bitsandbytes dequantizes it: dequantize_blockwise, then + offset, in fp32. */
    public float absmax(int b) {
        return doubleQuant() ? absmaxMap[absmaxQ[b] & 0xff] * absmaxScales[b / DQ_BLOCK] + absmaxOffset : absmaxFp32[b];
    }

    public QuantScheme.FourBit scheme() {
        return new QuantScheme.FourBit(code, blockSize, doubleQuant());
    }

    public static FourBitMatrix quantize(FourBitCode code, float[] w, int rows, int cols, int blockSize, boolean doubleQuant) {
        return quantize(code, w, rows, cols, blockSize, doubleQuant, false);
    }

    /** Candidate block scales of the MSE search: absmax * (1 - i / MSE_GRID), i = 0 .. MSE_STEPS. */
    static final int MSE_GRID = 100, MSE_STEPS = 30;

    /**
     * As bitsandbytes' quantize_4bit, or with mse each block's scale (the value stored where
     * bitsandbytes stores the absmax) is the one of absmax * (1 - i/100), i = 0..30, whose nearest
     * codes give the block the least squared error (absmax itself is a candidate, so no block's
     * error rises; the shrunk ones clip the block's largest weights to buy finer steps for the
     * rest, as llm-compressor's mse observer does for int). With double quantization the codes
     * are then chosen again against the scale as dequantized, the one the kernel multiplies by.
     * The stored layout is bitsandbytes' either way: a loader cannot tell the difference.
     */
    public static FourBitMatrix quantize(FourBitCode code, float[] w, int rows, int cols, int blockSize, boolean doubleQuant, boolean mse) {
        int n = w.length, nb = (n + blockSize - 1) / blockSize;
        float[] absmax = new float[nb];
        byte[] q = new byte[n];
        for (int b = 0; b < nb; b++) {
            int from = b * blockSize, end = Math.min(n, (b + 1) * blockSize);
            for (int i = from; i < end; i++) absmax[b] = Math.max(absmax[b], Math.abs(w[i]));
            if (mse) absmax[b] = mseScale(code, w, from, end, absmax[b]);
            codes(code, w, from, end, absmax[b], q);
        }
        if (!doubleQuant) return new FourBitMatrix(code, rows, cols, blockSize, q, absmax, null, null, null, 0f);
        FourBitMatrix m = doubleQuantize(code, rows, cols, blockSize, q, absmax);
        if (mse) for (int b = 0; b < nb; b++) codes(code, w, b * blockSize, Math.min(n, (b + 1) * blockSize), m.absmax(b), q);
        return m;
    }

    /**
     * quantize(code, w.toFloatArray(), ...) streamed from a stored matrix whose rows are whole blocks:
     * rows read one at a time on all cores, no fp32 copy per tensor at load (its garbage grew a
     * 1.1B nf4 load to 3.2 GB, single-threaded it took 30 s). The MSE search and ragged blocks take
     * the array path.
     */
    public static FourBitMatrix quantize(FourBitCode code, Tensor w, int blockSize, boolean doubleQuant, boolean mse) {
        int rows = w.rows(), cols = w.cols();
        if (mse || cols % blockSize != 0) return quantize(code, w.toFloatArray(), rows, cols, blockSize, doubleQuant, mse);
        int perRow = cols / blockSize;
        float[] absmax = new float[rows * perRow];
        byte[] q = new byte[rows * cols];
        Parallel.range(rows, 4L * cols, (first, last) -> {
            float[] buf = new float[cols];
            for (int r = first; r < last; r++) {
                w.readFloats((long) r * cols, buf, 0, cols);
                for (int k = 0, b = r * perRow; k < perRow; k++, b++) {
                    int from = k * blockSize, end = from + blockSize;
                    for (int i = from; i < end; i++) absmax[b] = Math.max(absmax[b], Math.abs(buf[i]));
                    codes(code, buf, from, end, absmax[b], q, r * cols);
                }
            }
        });
        return doubleQuant ? doubleQuantize(code, rows, cols, blockSize, q, absmax) : new FourBitMatrix(code, rows, cols, blockSize, q, absmax, null, null, null, 0f);
    }

    /** bitsandbytes' rule for one block: each weight times 1/scale, clamped to [-1, 1], its nearest code. */
    private static void codes(FourBitCode code, float[] w, int from, int end, float scale, byte[] q) {
        codes(code, w, from, end, scale, q, 0);
    }

    /** As codes, into q[qo + i]. */
    private static void codes(FourBitCode code, float[] w, int from, int end, float scale, byte[] q, int qo) {
        float inv = 1f / scale;
        for (int i = from; i < end; i++) q[qo + i] = (byte) code.nearest(Math.max(-1f, Math.min(1f, w[i] * inv)));
    }

    /** The block's squared error (float64) with the given scale and its nearest codes, dequantized as the kernel does (code value * scale in fp32). */
    static double blockError(FourBitCode code, float[] w, int from, int end, float scale) {
        float[] t = code.table();
        float inv = 1f / scale;
        double e = 0;
        for (int i = from; i < end; i++) {
            double d = w[i] - (double) (t[code.nearest(Math.max(-1f, Math.min(1f, w[i] * inv)))] * scale);
            e += d * d;
        }
        return e;
    }

    private static float mseScale(FourBitCode code, float[] w, int from, int end, float absmax) {
        if (absmax == 0f) return absmax;
        float best = absmax;
        double bestErr = blockError(code, w, from, end, absmax);
        for (int i = 1; i <= MSE_STEPS; i++) {
            float s = (float) (absmax * (1 - i / (double) MSE_GRID));
            double e = blockError(code, w, from, end, s);
            if (e < bestErr) {
                bestErr = e;
                best = s;
            }
        }
        return best;
    }

    /** QLoRA's double quantization of the block scales (absmax - mean, blockwise against the dynamic map). */
    private static FourBitMatrix doubleQuantize(FourBitCode code, int rows, int cols, int blockSize, byte[] q, float[] absmax) {
        int nb = absmax.length;
        double sum = 0;
        for (float a : absmax) sum += a;
        float offset = (float) (sum / nb);
        float[] centred = new float[nb];
        for (int b = 0; b < nb; b++) centred[b] = absmax[b] - offset;
        int n2 = (nb + DQ_BLOCK - 1) / DQ_BLOCK;
        float[] s2 = new float[n2];
        byte[] q2 = new byte[nb];
        for (int k = 0; k < n2; k++) {
            int end = Math.min(nb, (k + 1) * DQ_BLOCK);
            for (int b = k * DQ_BLOCK; b < end; b++) s2[k] = Math.max(s2[k], Math.abs(centred[b]));
            float inv = 1f / s2[k];
            for (int b = k * DQ_BLOCK; b < end; b++) q2[b] = (byte) nearest(DYNAMIC_MAP, Math.max(-1f, Math.min(1f, centred[b] * inv)));
        }
        return new FourBitMatrix(code, rows, cols, blockSize, q, null, q2, DYNAMIC_MAP, s2, offset);
    }

    /** argmin |v - map[i]| over a sorted map, ties to the lowest index (torch.argmin), NaN to index 0. */
    static int nearest(float[] map, float v) {
        int best = 0;
        float bestDiff = Math.abs(v - map[0]);
        for (int c = 1; c < map.length; c++) {
            float d = Math.abs(v - map[c]);
            if (d < bestDiff) {
                best = c;
                bestDiff = d;
            }
        }
        return best;
    }

    public float dequantize(int row, int col) {
        long i = (long) row * cols + col;
        return code.table()[q[(int) i]] * absmax((int) (i / blockSize));
    }

    /**
     * Resident bytes as stored: two codes per byte, absmax fp32 per block, or 8-bit per block + fp32
     * per 256 blocks + the offset (the 256-entry map is one shared table, like the 16 code values).
     */
    public long packedBytes() {
        long codes = ((long) rows * cols + 1) / 2;
        return codes + (doubleQuant() ? blocks() + 4L * absmaxScales.length + 4 : 4L * blocks());
    }

    /**
     * create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) in float32 as torch computes it:
     * for i = 0..6, the midpoints of linspace(0.1, 1, 2^i + 1) times 10^(i-6), both signs, then 0 and 1,
     * sorted. linspace is torch's scalar formula (start + k*step below the halfway index, end - (n-1-k)*step
     * from it); torch's vectorized linspace can differ in the last bit of some entries with the CPU's
     * vector width, which is why every checkpoint stores its map and loading uses the stored one.
     */
    private static float[] dynamicMap() {
        List<Float> data = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            int n = (1 << i) + 1;
            float start = 0.1f, end = 1f, step = (end - start) / (n - 1);
            float[] b = new float[n];
            for (int k = 0; k < n; k++) b[k] = k < n / 2 ? start + step * k : end - step * (n - 1 - k);
            float scale = (float) Double.parseDouble("1e" + (i - 6));
            for (int k = 0; k < n - 1; k++) {
                float mean = (b[k] + b[k + 1]) / 2f;
                data.add(scale * mean);
                data.add(-scale * mean);
            }
        }
        data.add(0f);
        data.add(1f);
        float[] m = new float[data.size()];
        for (int i = 0; i < m.length; i++) m[i] = data.get(i);
        java.util.Arrays.sort(m);
        if (m.length != 256) throw new IllegalStateException("dynamic map has " + m.length + " entries");
        return m;
    }
}
