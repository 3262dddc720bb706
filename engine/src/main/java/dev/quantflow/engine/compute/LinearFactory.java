package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Tensor;

/** Builds the Linear of one named layer (e.g. "model.layers.3.mlp.down_proj") from its stored weight. */
@FunctionalInterface
public interface LinearFactory {
    Linear create(String name, Tensor weight, float[] bias);

    LinearFactory DENSE = (name, weight, bias) -> new DenseLinear(weight, bias);
}
