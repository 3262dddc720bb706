package dev.quantflow.gpu.linear;

import dev.quantflow.engine.model.Tensor;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.CudaKernels.DenseType;
import dev.quantflow.gpu.DeviceBuffer;

/** fp32 / bf16 / fp16 weights copied to the card as stored (no conversion). */
public final class CudaDenseLinear extends CudaLinear {
    private final DenseType type;
    private final DeviceBuffer w;   // (out, in) in type

    public CudaDenseLinear(CudaKernels kernels, Tensor weight, float[] bias) {
        super(kernels, (int) weight.shape()[0], (int) weight.shape()[1], bias);
        this.type = switch (weight.dtype()) {
            case F32 -> DenseType.F32;
            case BF16 -> DenseType.BF16;
            case F16 -> DenseType.F16;
            default -> throw new IllegalArgumentException(weight + ": dense weights must be F32, BF16 or F16");
        };
        this.w = weights((long) out * in * type.bytes);
        w.upload(weight.data());
    }

    @Override
    public String scheme() {
        return type == DenseType.F32 ? "fp32" : type.name().toLowerCase();
    }

    @Override
    public void run(DeviceBuffer x, int rows, DeviceBuffer y, CudaKernels.Path path) {
        kernels.denseMatmul(type, x, w, bias, y, rows, out, in, path);
    }
}
