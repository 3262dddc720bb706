package dev.quantflow.gpu;

/**
 * The weight formats the kernels read, made on the host from fp32 weights (out, in) by
 * round-to-nearest: symmetric int8 per output channel (LLM.int8, W8A8 per channel), symmetric int8
 * per channel and group of columns (W8A8 group-wise), and asymmetric 4-bit per channel and group
 * packed two per byte, low nibble first (W4A16). Rounding is half-to-even (Math.rint) everywhere,
 * as in the kernels' activation quantizers.
 */
public final class WeightPacking {
    private WeightPacking() {}

    /** w[n, k] ~ q[n, k] * scales[n]. */
    public record Int8Channel(byte[] q, float[] scales, int out, int in) {
        public long bytes() {
            return q.length + 4L * scales.length;
        }
    }

    /** w[n, k] ~ q[n, k] * scales[n, k / group]. */
    public record Int8Groups(byte[] q, float[] scales, int out, int in, int group) {
        public long bytes() {
            return q.length + 4L * scales.length;
        }
    }

    /** w[n, k] ~ (code(n, k) - zeros[n, k / group]) * scales[n, k / group], code in 0..15. */
    public record Int4Groups(byte[] packed, float[] scales, float[] zeros, int out, int in, int group) {
        public long bytes() {
            return packed.length + 4L * scales.length + 4L * zeros.length;
        }

        public int code(int n, int k) {
            int b = packed[n * (in / 2) + k / 2] & 0xff;
            return (k & 1) == 0 ? b & 15 : b >>> 4;
        }

        public float dequant(int n, int k) {
            int g = n * (in / group) + k / group;
            return (code(n, k) - zeros[g]) * scales[g];
        }
    }

    public static Int8Channel int8PerChannel(float[] w, int out, int in) {
        byte[] q = new byte[out * in];
        float[] s = new float[out];
        for (int n = 0; n < out; n++) s[n] = quantizeSymmetric(w, n * in, in, q);
        return new Int8Channel(q, s, out, in);
    }

    public static Int8Groups int8Groups(float[] w, int out, int in, int group) {
        if (group <= 0 || in % group != 0) throw new IllegalArgumentException("group " + group + " must divide in=" + in);
        int groups = in / group;
        byte[] q = new byte[out * in];
        float[] s = new float[out * groups];
        for (int n = 0; n < out; n++)
            for (int g = 0; g < groups; g++) s[n * groups + g] = quantizeSymmetric(w, n * in + g * group, group, q);
        return new Int8Groups(q, s, out, in, group);
    }

    public static Int4Groups int4Groups(float[] w, int out, int in, int group) {
        if (group <= 0 || group % 2 != 0 || in % group != 0) throw new IllegalArgumentException("group " + group + " must be even and divide in=" + in);
        int groups = in / group;
        byte[] packed = new byte[out * in / 2];
        float[] s = new float[out * groups], z = new float[out * groups];
        for (int n = 0; n < out; n++)
            for (int g = 0; g < groups; g++) {
                int from = n * in + g * group;
                float lo = 0f, hi = 0f;   // the range always holds 0, so zero stays exact
                for (int i = 0; i < group; i++) {
                    lo = Math.min(lo, w[from + i]);
                    hi = Math.max(hi, w[from + i]);
                }
                float scale = (hi - lo) / 15f;
                if (scale == 0f) scale = 1f;
                float zero = (float) Math.min(15, Math.max(0, Math.rint(-lo / scale)));
                s[n * groups + g] = scale;
                z[n * groups + g] = zero;
                for (int i = 0; i < group; i++) {
                    int code = (int) Math.min(15, Math.max(0, Math.rint(w[from + i] / scale) + zero));
                    int at = from + i;
                    packed[at / 2] |= (byte) ((at & 1) == 0 ? code : code << 4);
                }
            }
        return new Int4Groups(packed, s, z, out, in, group);
    }

    /** Quantizes w[from, from+n) into q at the same offsets; returns the scale absmax / 127. */
    static float quantizeSymmetric(float[] w, int from, int n, byte[] q) {
        float amax = 0f;
        for (int i = 0; i < n; i++) amax = Math.max(amax, Math.abs(w[from + i]));
        float scale = amax / 127f;
        double inv = amax > 0 ? 127.0 / amax : 0;
        for (int i = 0; i < n; i++) q[from + i] = (byte) Math.max(-127, Math.min(127, Math.rint(w[from + i] * inv)));
        return scale;
    }
}
