package dev.quantflow.gpu.linear;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaKernels;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Builds linears with their weights on one card from the engine's formats ({@link CudaFormat}):
 * the plan says each layer's scheme (lm_head as the CPU treats it), the engine's factory for the
 * same plan (or a quantized checkpoint's loader) makes the codes, the card uploads them.
 */
public final class CudaLinearFactory implements LinearFactory {
    private final CudaKernels kernels;
    private final QuantPlan plan;
    private final LinearFactory engine;

    public CudaLinearFactory(CudaContext ctx, QuantPlan plan, LinearFactory engine) {
        this.kernels = new CudaKernels(ctx);
        this.plan = plan;
        this.engine = engine;
    }

    @Override
    public CudaLinear create(String name, Tensor weight, float[] bias) {
        if (weight.shape().length != 2) throw new IllegalArgumentException(name + ": " + weight + " is not a matrix");
        return onCard(name, () -> upload(CudaFormat.of(name, plan.schemeFor(name), weight, bias, engine), bias));
    }

    @Override
    public Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
        return onCard(name, () -> CudaFormat.fromStore(name, out, in, bias, engine).map(f -> upload(f, bias)));
    }

    private CudaLinear upload(CudaFormat f, float[] bias) {
        return switch (f) {
            case CudaFormat.Dense d -> new CudaDenseLinear(kernels, d.weight(), bias);
            case CudaFormat.Int8 q -> new CudaLlmInt8Linear(kernels, q.weights(), bias, q.threshold());
            case CudaFormat.W8A8Groups q -> new CudaW8A8Linear(kernels, q.weights(), bias);
            case CudaFormat.W4A16 q -> new CudaW4A16Linear(kernels, q.weights(), bias);
        };
    }

    private <T> T onCard(String name, Supplier<T> build) {
        try {
            return build.get();
        } catch (IllegalArgumentException e) {
            String device = kernels.context().device().id();
            throw e.getMessage() != null && e.getMessage().startsWith(name) ? new IllegalArgumentException(device + ": " + e.getMessage(), e)
                    : new IllegalArgumentException(name + " on " + device + ": " + e.getMessage(), e);
        }
    }
}
