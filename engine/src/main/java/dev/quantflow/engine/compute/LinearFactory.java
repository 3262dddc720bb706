package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Tensor;

/** Builds the Linear of one named layer (e.g. "model.layers.3.mlp.down_proj") from its stored weight. */
@FunctionalInterface
public interface LinearFactory {
    Linear create(String name, Tensor weight, float[] bias);

    /**
     * The layer of a quantized checkpoint, which stores no plain "NAME.weight" (but e.g. qweight
     * and scales); empty when this factory does not know the layer.
     */
    default java.util.Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
        return java.util.Optional.empty();
    }

    LinearFactory DENSE = (name, weight, bias) -> new DenseLinear(weight, bias);
}
