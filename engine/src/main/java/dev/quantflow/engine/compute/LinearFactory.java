package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Tensor;
import java.util.Optional;
import java.util.function.BiConsumer;

/** Builds the Linear of one named layer (e.g. "model.layers.3.mlp.down_proj") from its stored weight. */
@FunctionalInterface
public interface LinearFactory {
    Linear create(String name, Tensor weight, float[] bias);

    /**
     * The layer of a quantized checkpoint, which stores no plain "NAME.weight" (but e.g. qweight
     * and scales); empty when this factory does not know the layer.
     */
    default Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
        return Optional.empty();
    }

    /**
     * This factory, telling observer of every linear it builds, by either method. Wrap a factory
     * with this rather than with a lambda: a lambda implements only create and so silently loses
     * the quantized layers that come from fromStore.
     */
    default LinearFactory observed(BiConsumer<String, Linear> observer) {
        LinearFactory inner = this;
        return new LinearFactory() {
            @Override
            public Linear create(String name, Tensor weight, float[] bias) {
                Linear l = inner.create(name, weight, bias);
                observer.accept(name, l);
                return l;
            }

            @Override
            public Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
                Optional<Linear> l = inner.fromStore(name, out, in, bias);
                l.ifPresent(x -> observer.accept(name, x));
                return l;
            }
        };
    }

    LinearFactory DENSE = (name, weight, bias) -> new DenseLinear(weight, bias);
}
