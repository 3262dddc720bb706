package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.Fp8Format;
import java.util.Arrays;

/**
 * GPTQ (Frantar et al. 2023): quantizes a weight matrix column by column, each column's rounding
 * error spread over the columns not yet quantized in proportion to the inverse Hessian of the
 * layer's reconstruction loss, H = 2 X^T X from calibration inputs. Steps: dampen H
 * (+ percDamp * mean diag), U = upper Cholesky factor of H^-1, then for each block of columns:
 * quantize column i, err = (w_i - q_i) / U_ii, update the block's later columns by err * U_i,j,
 * and after the block, all later columns at once (the "lazy batch" update). Group parameters are
 * fixed when the first column of a group is reached (from the error-updated weights); with
 * act-order columns are visited by decreasing diag(H) and group parameters come from the original
 * weights (AutoGPTQ's static groups), so groups stay contiguous and no g_idx is needed.
 */
public final class Gptq {
    public static final double DEFAULT_DAMP = 0.01;
    public static final int BLOCK = 128;

    private Gptq() {}

    /**
     * The grid GPTQ rounds each weight onto, one set of parameters per (row, group of columns):
     * an integer range with a scale and zero point per group (int4/int8), or FP8 codes with a
     * scale per row (llm-compressor's GPTQModifier with float8 quantization args).
     */
    public interface Grid {
        /** Columns per group; a group as wide as the row (or wider) means one per row. */
        int groupSize();

        /** Fixes group grp's parameters for every row from w's columns [from, to) as they are now. */
        void setGroup(double[][] w, int grp, int from, int to);

        /** Rounds value (row o, column col of group grp) onto the grid, keeps its code, returns the grid point. */
        double round(int o, int col, int grp, double value);
    }

    /** Integer codes (IntRange) with a scale and zero point per (row, group), min-max over the group. */
    static final class IntGrid implements Grid {
        private final IntRange range;
        private final GroupLayout g;
        private final int out;
        final float[] scales;
        final byte[] zeros, q;

        IntGrid(IntRange range, int out, int in, int groupSize) {
            this.range = range;
            this.g = new GroupLayout(in, groupSize);
            this.out = out;
            this.scales = new float[out * g.groups()];
            this.zeros = new byte[out * g.groups()];
            this.q = new byte[out * in];
        }

        public int groupSize() {
            return g.groupSize();
        }

        public void setGroup(double[][] w, int grp, int from, int to) {
            int ng = g.groups();
            for (int o = 0; o < out; o++) {
                float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
                for (int c = from; c < to; c++) {
                    lo = Math.min(lo, (float) w[o][c]);
                    hi = Math.max(hi, (float) w[o][c]);
                }
                IntRange.QParams p = range.params(lo, hi);
                scales[o * ng + grp] = p.scale();
                zeros[o * ng + grp] = (byte) p.zero();
            }
        }

        public double round(int o, int col, int grp, double value) {
            int ng = g.groups();
            IntRange.QParams p = new IntRange.QParams(scales[o * ng + grp], zeros[o * ng + grp]);
            int code = range.quantize((float) value, p);
            q[o * g.cols() + col] = (byte) code;
            return range.dequantize(code, p);
        }

        QuantizedMatrix matrix() {
            return new QuantizedMatrix(range, out, g.cols(), g, q, scales, zeros);
        }
    }

    /**
     * FP8 codes with one scale per row (or one for the tensor), absmax / max-finite from the
     * original weights, as llm-compressor's GPTQ with float8 args sets them before rounding.
     */
    static final class Fp8Grid implements Grid {
        private final Fp8Format f;
        private final int in;
        private final boolean perChannel;
        final float[] scales;
        final byte[] q;

        Fp8Grid(float[] weight, int out, int in, Fp8Format f, boolean perChannel, boolean mseScales) {
            this.f = f;
            this.in = in;
            this.perChannel = perChannel;
            this.scales = (mseScales ? Fp8Matrix.quantizeMse(weight, out, in, f, perChannel) : Fp8Matrix.quantize(weight, out, in, f, perChannel)).scales();
            this.q = new byte[out * in];
        }

        public int groupSize() {
            return in;
        }

        public void setGroup(double[][] w, int grp, int from, int to) {
            // the scales are the original weights' (set in the constructor): error feedback must not move them
        }

        public double round(int o, int col, int grp, double value) {
            byte code = f.encode((float) (value / scales[o]));
            q[o * in + col] = code;
            return f.decode(code) * scales[o];
        }

        Fp8Matrix matrix(int out) {
            return new Fp8Matrix(f, out, in, q, scales, perChannel);
        }
    }

    /**
     * bitsandbytes' NF4/FP4 blocks: the block scales (absmax or mse-searched, double-quantized as
     * stored) fixed from the original weights before any column is rounded, each weight given the
     * nearest code of its block's dequantized scale. The blocks run over the flattened tensor and
     * may straddle rows; fixing them up front (as act-order's static groups) makes that harmless.
     */
    static final class FourBitGrid implements Grid {
        private final FourBitMatrix start;
        private final float[] scale;
        final byte[] q;

        FourBitGrid(FourBitMatrix start) {
            this.start = start;
            this.scale = new float[start.blocks()];
            for (int b = 0; b < scale.length; b++) scale[b] = start.absmax(b);
            this.q = new byte[start.q().length];
        }

        public int groupSize() {
            return start.cols();
        }

        public void setGroup(double[][] w, int grp, int from, int to) {
            // the block scales are the original weights' (set in the constructor)
        }

        public double round(int o, int col, int grp, double value) {
            int i = o * start.cols() + col;
            float s = scale[i / start.blockSize()];
            int code = start.code().nearest(Math.max(-1f, Math.min(1f, (float) value * (1f / s))));
            q[i] = (byte) code;
            return start.code().table()[code] * s;
        }

        FourBitMatrix matrix() {
            return new FourBitMatrix(start.code(), start.rows(), start.cols(), start.blockSize(), q, start.absmaxFp32(), start.absmaxQ(),
                    start.absmaxMap(), start.absmaxScales(), start.absmaxOffset());
        }
    }

    /** GPTQ onto bitsandbytes' 4-bit blocks (columns in input order), the block scales those of {@link FourBitMatrix#quantize}. */
    public static FourBitMatrix quantizeFourBit(float[] weight, int out, int in, double[] hessian, FourBitCode code, int block, boolean doubleQuant,
                                                boolean mseScales, double percDamp) {
        FourBitGrid grid = new FourBitGrid(FourBitMatrix.quantize(code, weight, out, in, block, doubleQuant, mseScales));
        run(weight, out, in, hessian, grid, false, percDamp, null);
        return grid.matrix();
    }

    /** GPTQ onto the FP8 grid (columns in input order), scales as {@link Fp8Matrix#quantize}'s. */
    public static Fp8Matrix quantizeFp8(float[] weight, int out, int in, double[] hessian, Fp8Format f, boolean perChannel, double percDamp) {
        return quantizeFp8(weight, out, in, hessian, f, perChannel, false, percDamp, null);
    }

    /**
     * As above; mseScales: the scales of the mse observer ({@link Fp8Matrix#quantizeMse}) instead of
     * absmax, fixed before any column is rounded; beforeRounding as in {@link #quantize}.
     */
    public static Fp8Matrix quantizeFp8(float[] weight, int out, int in, double[] hessian, Fp8Format f, boolean perChannel, boolean mseScales,
                                        double percDamp, float[] beforeRounding) {
        return quantizeFp8(weight, out, in, hessian, f, perChannel, mseScales, false, percDamp, beforeRounding);
    }

    /** As above; actOrder: columns by decreasing diag(H) (the scales are fixed up front, so any order keeps them). */
    public static Fp8Matrix quantizeFp8(float[] weight, int out, int in, double[] hessian, Fp8Format f, boolean perChannel, boolean mseScales,
                                        boolean actOrder, double percDamp, float[] beforeRounding) {
        Fp8Grid grid = new Fp8Grid(weight, out, in, f, perChannel, mseScales);
        run(weight, out, in, hessian, grid, actOrder, percDamp, beforeRounding);
        return grid.matrix(out);
    }

    public static QuantizedMatrix quantize(float[] weight, int out, int in, double[] hessian, IntRange range, int groupSize, boolean actOrder, double percDamp) {
        return quantize(weight, out, in, hessian, range, groupSize, actOrder, percDamp, null);
    }

    /**
     * As above; beforeRounding (out, in), when given, gets each weight as GPTQ rounded it (the
     * original plus the error pushed onto it from earlier columns): a start for training that
     * rounds to GPTQ's codes (layer-wise distillation).
     */
    public static QuantizedMatrix quantize(float[] weight, int out, int in, double[] hessian, IntRange range, int groupSize, boolean actOrder,
                                           double percDamp, float[] beforeRounding) {
        IntGrid grid = new IntGrid(range, out, in, groupSize);
        run(weight, out, in, hessian, grid, actOrder, percDamp, beforeRounding);
        return grid.matrix();
    }

    /**
     * GPTQ onto any grid: grid holds the codes and parameters afterwards. With actOrder the groups'
     * parameters are set from the original weights before any column is rounded (static groups).
     */
    public static void run(float[] weight, int out, int in, double[] hessian, Grid grid, boolean actOrder, double percDamp, float[] beforeRounding) {
        GroupLayout g = new GroupLayout(in, grid.groupSize());
        int ng = g.groups();
        double[] h = hessian.clone();
        double[][] w = new double[out][in];
        for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) w[o][i] = weight[o * in + i];
        for (int i = 0; i < in; i++) {
            if (h[i * in + i] == 0) {       // a dead input: no information, quantize as zero
                h[i * in + i] = 1;
                for (int o = 0; o < out; o++) w[o][i] = 0;
            }
        }
        boolean[] groupReady = new boolean[ng];
        if (actOrder) {                     // static groups from the original weights
            for (int grp = 0; grp < ng; grp++) grid.setGroup(w, grp, g.start(grp), g.end(grp));
            Arrays.fill(groupReady, true);
        }
        int[] perm = order(h, in, actOrder);
        double[] hp = permute(h, in, perm);
        double[] u = inverseHessianFactor(hp, in, percDamp);

        double[][] err = new double[out][BLOCK];
        for (int b0 = 0; b0 < in; b0 += BLOCK) {
            int b1 = Math.min(in, b0 + BLOCK);
            for (int i = b0; i < b1; i++) {
                int col = perm[i], grp = col / g.groupSize();
                if (!groupReady[grp]) {
                    grid.setGroup(w, grp, g.start(grp), g.end(grp));
                    groupReady[grp] = true;
                }
                double d = u[i * in + i];
                for (int o = 0; o < out; o++) {
                    if (beforeRounding != null) beforeRounding[o * in + col] = (float) w[o][col];
                    double e = (w[o][col] - grid.round(o, col, grp, w[o][col])) / d;
                    err[o][i - b0] = e;
                    for (int j = i + 1; j < b1; j++) w[o][perm[j]] -= e * u[i * in + j];
                }
            }
            for (int o = 0; o < out; o++) {           // lazy update of the columns after the block
                double[] wo = w[o], eo = err[o];
                for (int j = b1; j < in; j++) {
                    double s = 0;
                    for (int i = b0; i < b1; i++) s += eo[i - b0] * u[i * in + j];
                    wo[perm[j]] -= s;
                }
            }
        }
    }

    private static int[] order(double[] h, int n, boolean actOrder) {
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        if (actOrder) Arrays.sort(idx, (a, b) -> Double.compare(h[b * n + b], h[a * n + a]));
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = idx[i];
        return p;
    }

    private static double[] permute(double[] h, int n, int[] perm) {
        double[] r = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) r[i * n + j] = h[perm[i] * n + perm[j]];
        return r;
    }

    /** U with H^-1 = U^T U after dampening; more damping if H is numerically singular. */
    private static double[] inverseHessianFactor(double[] h, int n, double percDamp) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i];
        mean /= n;
        for (double damp = percDamp; damp < 1e4; damp *= 10) {
            double[] a = h.clone();
            for (int i = 0; i < n; i++) a[i * n + i] += damp * mean;
            double[] l = DenseMath.cholesky(a, n);
            if (l == null) continue;
            double[] u = DenseMath.upperCholesky(DenseMath.inverseFromCholesky(l, n), n);
            if (u != null) return u;
        }
        throw new IllegalStateException("GPTQ: the Hessian is not positive definite even after dampening");
    }
}
