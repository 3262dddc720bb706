package dev.quantflow.gpu.linear;

import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.CudaKernels.Outliers;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import java.util.Optional;

/**
 * LLM.int8(): int8 weights per output channel; per batch, the activation columns with an
 * |x| >= threshold stay fp32 (times the dequantized weight columns), the rest goes through the int8
 * tensor-core product, merged in one epilogue. threshold = +inf gives W8A8 with dynamic per-token
 * activation scales (no outlier pass at all).
 */
public final class CudaLlmInt8Linear extends CudaLinear {
    private final float threshold;
    private final DeviceBuffer w, sw;

    public CudaLlmInt8Linear(CudaKernels kernels, Int8Channel weights, float[] bias, float threshold) {
        super(kernels, weights.out(), weights.in(), bias);
        if (!(threshold > 0)) throw new IllegalArgumentException("LLM.int8 threshold must be > 0, not " + threshold);
        this.threshold = threshold;
        this.w = upload(weights.q());
        this.sw = upload(weights.scales());
    }

    @Override
    public String scheme() {
        return Float.isInfinite(threshold) ? "w8a8" : "llm-int8";
    }

    @Override
    public void run(DeviceBuffer x, int rows, DeviceBuffer y, CudaKernels.Path path) {
        DeviceBuffer q = ctx.workspace("int8.q", (long) rows * in), sx = ctx.workspace("int8.sx", 4L * rows);
        if (Float.isInfinite(threshold)) {
            kernels.quantizeRows(x, q, sx, rows, in);
            kernels.int8Matmul(q, w, sx, sw, bias, y, rows, out, in, Optional.empty(), path);
            return;
        }
        DeviceBuffer flags = ctx.workspace("int8.flags", 4L * ((in + 31) / 32));   // zero between calls
        DeviceBuffer cols = ctx.workspace("int8.cols", 4L * in), count = ctx.workspace("int8.count", 4);
        DeviceBuffer xo = ctx.workspace("int8.xo", 4L * rows * in);
        kernels.outlierFlags(x, rows, in, threshold, flags);
        kernels.outlierCompact(flags, in, cols, count);
        kernels.quantizeMasked(x, rows, in, cols, count, q, sx, xo);
        kernels.int8Matmul(q, w, sx, sw, bias, y, rows, out, in, Optional.of(new Outliers(cols, count, xo)), path);
    }
}
