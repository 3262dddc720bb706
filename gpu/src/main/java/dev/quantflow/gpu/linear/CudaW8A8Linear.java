package dev.quantflow.gpu.linear;

import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.WeightPacking.Int8Groups;

/** W8A8 group-wise: int8 weights and dynamically quantized activations, one scale per group of columns. */
public final class CudaW8A8Linear extends CudaLinear {
    private final int group;
    private final DeviceBuffer w, sw;

    public CudaW8A8Linear(CudaKernels kernels, Int8Groups weights, float[] bias) {
        super(kernels, weights.out(), weights.in(), bias);
        this.group = weights.group();
        if (group % 32 != 0) throw new IllegalArgumentException("W8A8 group must be a multiple of 32, not " + group);
        this.w = upload(weights.q());
        this.sw = upload(weights.scales());
    }

    @Override
    public String scheme() {
        return "w8a8-g" + group;
    }

    @Override
    public void run(DeviceBuffer x, int rows, DeviceBuffer y, CudaKernels.Path path) {
        DeviceBuffer q = ctx.workspace("int8.q", (long) rows * in), sx = ctx.workspace("int8.sxg", 4L * rows * (in / group));
        kernels.quantizeGroups(x, q, sx, rows, in, group);
        kernels.w8a8Matmul(q, w, sx, sw, bias, y, rows, out, in, group, path);
    }
}
