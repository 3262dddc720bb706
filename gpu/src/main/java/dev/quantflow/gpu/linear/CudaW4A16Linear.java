package dev.quantflow.gpu.linear;

import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.WeightPacking.Int4Groups;

/** W4A16: 4-bit group-quantized weights dequantized in registers; fp32 activations. */
public final class CudaW4A16Linear extends CudaLinear {
    private final int group;
    private final DeviceBuffer packed, scales, zeros;

    public CudaW4A16Linear(CudaKernels kernels, Int4Groups weights, float[] bias) {
        super(kernels, weights.out(), weights.in(), bias);
        this.group = weights.group();
        if (group % 8 != 0) throw new IllegalArgumentException("W4A16 group must be a multiple of 8, not " + group);
        this.packed = upload(weights.packed());
        this.scales = upload(weights.scales());
        this.zeros = upload(weights.zeros());
    }

    @Override
    public String scheme() {
        return "w4a16-g" + group;
    }

    @Override
    public void run(DeviceBuffer x, int rows, DeviceBuffer y, CudaKernels.Path path) {
        kernels.w4a16Matmul(x, packed, scales, zeros, bias, y, rows, out, in, group, path);
    }
}
