package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Fp8Kernels;
import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import dev.quantflow.engine.model.Fp8Format;

/**
 * FP8 weight-only (W8A16 in FP8, as vLLM's fp8 on GPUs without FP8 tensor cores): e4m3 or e5m2
 * codes, per-channel or per-tensor scales, fp32 activations. The codes are held in
 * Int8Kernels.interleave8's layout (converted once here) and read as Int8Linear reads its int8
 * codes: one row walks the groups of eight rows chunk by chunk (Fp8Kernels.dotF8F32x8, a two-op
 * decode in registers); a batch decodes panels of weight rows into the dense tile, summed in that
 * order (PanelMatmul.forwardChained), so a row's output bits do not depend on its batch. The
 * activations are taken times Fp8Kernels.X_SCALE and the scales times outScale (the decode's
 * folded exponent correction). Fp8W8A8Linear runs its decoded e4m3 activations through the same.
 */
public final class Fp8Linear implements Linear {
    private final Fp8Format format;
    private final int out, in;
    private final byte[] q;               // (out, in) codes, Int8Kernels.interleave8 layout
    private final float[] scale;          // (out) as stored: the dequantization scale
    private final float[] kernelScale;    // (out) scale * Fp8Kernels.outScale(format)
    private final boolean perChannel;
    private final float[] bias;

    /** Over a copy of w's codes (w stays as it is). */
    public Fp8Linear(Fp8Matrix w, float[] bias) {
        this(w, bias, false);
    }

    /**
     * Over w's own code array, reordered in place into the kernel's layout: for codes made for this
     * linear alone (quantized at load, read from a checkpoint), which must not be read as row-major
     * after this. Saves a copy of every matrix at load (1.1B fp8: +0.44 GB RSS after load with the copy).
     */
    public static Fp8Linear adopting(Fp8Matrix w, float[] bias) {
        return new Fp8Linear(w, bias, true);
    }

    private Fp8Linear(Fp8Matrix w, float[] bias, boolean adopt) {
        byte[] codes = w.q();
        for (int i = 0; i < codes.length; i++)
            if (Fp8Kernels.nonFinite(w.format(), codes[i]))
                throw new IllegalArgumentException("FP8 weight " + i / w.cols() + "," + i % w.cols() + " is a non-finite code (0x" + Integer.toHexString(codes[i] & 0xff) + ")");
        this.format = w.format();
        this.out = w.rows();
        this.in = w.cols();
        if (adopt) Int8Kernels.interleave8InPlace(codes, out, in);
        this.q = adopt ? codes : Int8Kernels.interleave8(codes, out, in);
        this.scale = w.scales();
        this.perChannel = w.perChannel();
        this.bias = bias;
        this.kernelScale = new float[out];
        for (int o = 0; o < out; o++) kernelScale[o] = scale[o] * Fp8Kernels.outScale(format);
    }

    /** The matrix with its row-major codes (a copy). */
    public Fp8Matrix weights() {
        return new Fp8Matrix(format, out, in, Int8Kernels.deinterleave8(q, out, in), scale, perChannel);
    }

    boolean perChannel() {
        return perChannel;
    }

    @Override
    public int inFeatures() {
        return in;
    }

    @Override
    public int outFeatures() {
        return out;
    }

    @Override
    public long weightBytes() {
        return (long) out * in + 4L * (perChannel ? out : 1) + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return new QuantScheme.Fp8(format, perChannel).toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        float[] xs = new float[rows * in];
        Fp8Kernels.scaleActivations(x, 0, rows * in, xs, 0);
        forwardScaled(xs, rows, y);
    }

    /** y = bias + scale * W . x for activations already times Fp8Kernels.X_SCALE. */
    void forwardScaled(float[] xs, int rows, float[] y) {
        if (rows == 1) {
            decode(xs, y);
            return;
        }
        if (Int8Kernels.block() < 8) {   // no vector tile on 128-bit species: each row as decode sums it
            Linear.rowByRow(in, out, xs, rows, y, this::decode);
            return;
        }
        // the decoded codes as floats (scale 1: exact), summed in decode's order; the out % 8 rows stored row-major: decode's dotF8F32 per row
        int grouped = out / Int8Kernels.ROWS * Int8Kernels.ROWS;
        PanelMatmul.forwardChained(grouped, out, in, Int8Kernels.CHUNK, Int8Kernels.block(),
                (o, dst, off) -> Fp8Kernels.decodeInterleaved(format, q, o, out, in, 1f, dst, off), kernelScale, bias, xs, rows, y);
        for (int o = grouped; o < out; o++)
            for (int r = 0; r < rows; r++) y[r * out + o] = (bias == null ? 0f : bias[o]) + kernelScale[o] * leftoverDot(o, xs, r * in);
    }

    private float leftoverDot(int o, float[] xs, int xo) {
        float dots = 0f;
        for (int c = 0; c < Int8Kernels.chunks(in); c++) {
            int c0 = c * Int8Kernels.CHUNK;
            dots += Fp8Kernels.dotF8F32(format, q, out * c0 + o * Int8Kernels.chunkColumns(c, in), xs, xo + c0, Int8Kernels.chunkColumns(c, in));
        }
        return dots;
    }

    /** One row: Int8Linear's decode walk (groups over the threads, chunk by chunk, the out % 8 last rows one at a time). */
    private void decode(float[] xs, float[] y) {
        int R = Int8Kernels.ROWS, groups = out / R, K = Int8Kernels.block(), chunks = Int8Kernels.chunks(in);
        Parallel.range(groups + (out % R == 0 ? 0 : 1), (long) in * R, (first, last) -> {
            float[] dots = new float[R * (last - first)], lanes = VectorMath.lanes(8);
            for (int c = 0; c < chunks; c++) {
                int c0 = c * Int8Kernels.CHUNK, n = Int8Kernels.chunkColumns(c, in), full = n / K * K, base = out * c0;
                for (int g = first; g < Math.min(last, groups); g++) {
                    int go = base + g * R * n, d = (g - first) * R;
                    Fp8Kernels.dotF8F32x8(format, q, go, xs, c0, 0, full, dots, d, lanes);
                    Fp8Kernels.dotF8F32x8Tail(format, q, go, xs, c0, n, dots, d);
                }
            }
            for (int o = first * R; o < Math.min(out, last * R); o++)
                y[o] = (bias == null ? 0f : bias[o]) + kernelScale[o] * (o < groups * R ? dots[o - first * R] : leftoverDot(o, xs, 0));
        });
    }
}
