package dev.quantflow.gpu;

import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.gpu.linear.CudaDenseLinear;
import dev.quantflow.gpu.linear.CudaLinear;
import dev.quantflow.gpu.linear.CudaLlmInt8Linear;
import dev.quantflow.gpu.linear.CudaW4A16Linear;
import dev.quantflow.gpu.linear.CudaW8A8Linear;

/**
 * Builds linears with their weights on one card, quantized on the host by round-to-nearest as the
 * scheme says. A layer whose shape the scheme cannot take (e.g. in not divisible by the group)
 * fails with a message naming it.
 */
public final class CudaLinearFactory implements LinearFactory {
    private final CudaKernels kernels;
    private final CudaScheme scheme;

    public CudaLinearFactory(CudaContext ctx, CudaScheme scheme) {
        this.kernels = new CudaKernels(ctx);
        this.scheme = scheme;
    }

    @Override
    public CudaLinear create(String name, Tensor weight, float[] bias) {
        if (weight.shape().length != 2) throw new IllegalArgumentException(name + ": " + weight + " is not a matrix");
        int out = (int) weight.shape()[0], in = (int) weight.shape()[1];
        try {
            return switch (scheme) {
                case CudaScheme.Dense d -> new CudaDenseLinear(kernels, weight, bias);
                case CudaScheme.LlmInt8(float threshold) -> new CudaLlmInt8Linear(kernels, WeightPacking.int8PerChannel(weight.toFloatArray(), out, in), bias, threshold);
                case CudaScheme.W8A8(int group) when group == 0 ->
                        new CudaLlmInt8Linear(kernels, WeightPacking.int8PerChannel(weight.toFloatArray(), out, in), bias, Float.POSITIVE_INFINITY);
                case CudaScheme.W8A8(int group) -> new CudaW8A8Linear(kernels, WeightPacking.int8Groups(weight.toFloatArray(), out, in, group), bias);
                case CudaScheme.W4A16(int group) -> new CudaW4A16Linear(kernels, WeightPacking.int4Groups(weight.toFloatArray(), out, in, group), bias);
            };
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + " on " + kernels.context().device().id() + ": " + e.getMessage(), e);
        }
    }
}
