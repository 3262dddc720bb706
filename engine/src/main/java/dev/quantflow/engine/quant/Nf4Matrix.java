package dev.quantflow.engine.quant;

/**
 * NF4 codes of a (rows, cols) weight, flattened into blocks of blockSize with one absmax each
 * (QLoRA). With double quantization the absmax values are stored as 8-bit codes: their mean is
 * subtracted (one fp32 offset), then each block of 256 is quantized symmetric int8 against its own
 * fp32 scale, absmax ~ offset + code * scale2 (QLoRA's second level; bitsandbytes uses its dynamic
 * 8-bit map here, we a linear int8 grid). Codes 0..15, one per byte here; stored two per byte.
 */
public record Nf4Matrix(int rows, int cols, int blockSize, byte[] q, float[] absmaxFp32, byte[] absmaxQ, float[] absmaxScales, float absmaxOffset) {
    /** QLoRA's NormalFloat4 code values (the quantiles of N(0,1) scaled to [-1, 1], exact zero), as bitsandbytes ships them. */
    public static final float[] NF4 = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
            -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
            0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
    public static final int DQ_BLOCK = 256;

    public boolean doubleQuant() {
        return absmaxQ != null;
    }

    public int blocks() {
        return (int) (((long) rows * cols + blockSize - 1) / blockSize);
    }

    public float absmax(int b) {
        return doubleQuant() ? absmaxOffset + absmaxQ[b] * absmaxScales[b / DQ_BLOCK] : absmaxFp32[b];
    }

    public QuantScheme.Nf4 scheme() {
        return new QuantScheme.Nf4(blockSize, doubleQuant());
    }

    public static Nf4Matrix quantize(float[] w, int rows, int cols, int blockSize, boolean doubleQuant) {
        int n = w.length, nb = (n + blockSize - 1) / blockSize;
        float[] absmax = new float[nb];
        for (int b = 0; b < nb; b++)
            for (int i = b * blockSize; i < Math.min(n, (b + 1) * blockSize); i++) absmax[b] = Math.max(absmax[b], Math.abs(w[i]));
        Nf4Matrix m;
        if (doubleQuant) {
            double sum = 0;
            for (float a : absmax) sum += a;
            float offset = (float) (sum / nb);
            int n2 = (nb + DQ_BLOCK - 1) / DQ_BLOCK;
            float[] s2 = new float[n2];
            byte[] q2 = new byte[nb];
            for (int k = 0; k < n2; k++) {
                float mx = 0;
                for (int b = k * DQ_BLOCK; b < Math.min(nb, (k + 1) * DQ_BLOCK); b++) mx = Math.max(mx, Math.abs(absmax[b] - offset));
                s2[k] = mx == 0 ? 1f : mx / 127f;
                for (int b = k * DQ_BLOCK; b < Math.min(nb, (k + 1) * DQ_BLOCK); b++)
                    q2[b] = (byte) Math.max(-127, Math.min(127, Math.round((absmax[b] - offset) / s2[k])));
            }
            m = new Nf4Matrix(rows, cols, blockSize, new byte[n], null, q2, s2, offset);
        } else {
            m = new Nf4Matrix(rows, cols, blockSize, new byte[n], absmax, null, null, 0f);
        }
        // codes against the absmax as it will be decoded (the double-quantized one), nearest value
        for (int b = 0; b < nb; b++) {
            float a = m.absmax(b);
            for (int i = b * blockSize; i < Math.min(n, (b + 1) * blockSize); i++) m.q[i] = (byte) nearest(a == 0 ? 0 : w[i] / a);
        }
        return m;
    }

    static int nearest(float v) {
        int best = 0;
        for (int c = 1; c < 16; c++) if (Math.abs(NF4[c] - v) < Math.abs(NF4[best] - v)) best = c;
        return best;
    }

    public float dequantize(int row, int col) {
        long i = (long) row * cols + col;
        return NF4[q[(int) i]] * absmax((int) (i / blockSize));
    }

    /** Resident bytes as stored: two codes per byte, absmax fp32 per block, or 8-bit per block + fp32 per 256 blocks + the offset. */
    public long packedBytes() {
        long codes = ((long) rows * cols + 1) / 2;
        return codes + (doubleQuant() ? blocks() + 4L * absmaxScales.length + 4 : 4L * blocks());
    }
}
