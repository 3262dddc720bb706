package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;

/**
 * W8A16: weight-only int8, one scale per output channel, activations stay fp32. Decode reads one
 * byte per weight (a quarter of fp32, half of bf16) and dequantizes in registers, eight weight
 * rows per activation load (the codes are held in Int8Kernels.interleave8's layout, converted
 * once here); a batch of rows dequantizes a panel of weight rows at a time and runs the dense
 * fp32 tile over it (PanelMatmul).
 */
public final class Int8Linear implements Linear {
    private final int out, in;
    private final byte[] q;        // (out, in) symmetric codes, Int8Kernels.interleave8 layout
    private final float[] scale;   // (out)
    private final float[] bias;    // (out) or null

    public Int8Linear(QuantizedMatrix m, float[] bias) {
        if (m.range() != IntRange.INT8_SYM || !m.layout().perRowOnly())
            throw new IllegalArgumentException("W8A16 needs symmetric int8 codes with one scale per output channel");
        this.out = m.rows();
        this.in = m.cols();
        this.q = Int8Kernels.interleave8(m.q(), out, in);   // m's row-major codes are not kept
        this.scale = m.scales();
        this.bias = bias;
    }

    public static Int8Linear quantize(float[] w, int out, int in, float[] bias) {
        return new Int8Linear(QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX), bias);
    }

    public QuantizedMatrix weights() {
        return new QuantizedMatrix(IntRange.INT8_SYM, out, in, GroupLayout.perRow(in), Int8Kernels.deinterleave8(q, out, in), scale, new byte[out]);
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
        return q.length + 4L * scale.length + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return "w8a16";
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        if (rows == 1) {
            decode(x, y);
            return;
        }
        PanelMatmul.forward(out, in, in, (o, dst, off) -> Int8Kernels.dequantizeInterleaved(q, o, out, in, scale[o], dst, off), bias, x, rows, y);
    }

    /**
     * One row: the interleaved groups of eight weight rows split over the threads, one stream per
     * thread; the out % 8 last rows one at a time. The four-row tile over four separate row
     * streams (dotI8F32x4, removed) was 0.2-0.8x on 5632x2048; the interleaved groups are one
     * stream. Cutting long rows (2048x5632: x is 22 KiB, evicted from L1 by the 44 KiB of weights
     * between its uses) into 2048-column chunks over all groups was measured too: no better
     * (1.1-1.3x the old loop against 1.2-2.0x unchunked), the weight stream is no longer contiguous.
     */
    private void decode(float[] x, float[] y) {
        int R = Int8Kernels.ROWS, groups = out / R, full = in / Int8Kernels.block() * Int8Kernels.block();
        Parallel.range(groups + (out % R == 0 ? 0 : 1), (long) in * R, (first, last) -> {
            float[] dots = new float[R];
            for (int g = first; g < Math.min(last, groups); g++) {
                java.util.Arrays.fill(dots, 0f);
                Int8Kernels.dotI8F32x8(q, g * R * in, x, 0, 0, full, dots, 0);
                Int8Kernels.dotI8F32x8Tail(q, g * R * in, x, 0, in, dots, 0);
                for (int j = 0; j < R; j++) {
                    int o = g * R + j;
                    y[o] = (bias == null ? 0f : bias[o]) + scale[o] * dots[j];
                }
            }
            if (last > groups)
                for (int o = groups * R; o < out; o++) y[o] = (bias == null ? 0f : bias[o]) + scale[o] * Int8Kernels.dotI8F32(q, o * in, x, 0, in);
        });
    }
}
