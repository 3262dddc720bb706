package dev.quantflow.engine.quant;

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
        int n = w.length, nb = (n + blockSize - 1) / blockSize;
        float[] absmax = new float[nb];
        byte[] q = new byte[n];
        for (int b = 0; b < nb; b++) {
            int end = Math.min(n, (b + 1) * blockSize);
            for (int i = b * blockSize; i < end; i++) absmax[b] = Math.max(absmax[b], Math.abs(w[i]));
            float inv = 1f / absmax[b];
            for (int i = b * blockSize; i < end; i++) q[i] = (byte) code.nearest(Math.max(-1f, Math.min(1f, w[i] * inv)));
        }
        if (!doubleQuant) return new FourBitMatrix(code, rows, cols, blockSize, q, absmax, null, null, null, 0f);
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
