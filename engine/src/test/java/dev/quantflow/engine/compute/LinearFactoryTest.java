package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Wrapping a factory keeps the layers a quantized checkpoint stores without NAME.weight (fromStore). */
class LinearFactoryTest {
    private static final Linear STORED = DenseLinear.ofF32(new float[4], 2, 2, null);

    /** A checkpoint's loader: only fromStore knows "q". */
    private static final LinearFactory CHECKPOINT = new LinearFactory() {
        @Override
        public Linear create(String name, Tensor weight, float[] bias) {
            return LinearFactory.DENSE.create(name, weight, bias);
        }

        @Override
        public Optional<Linear> fromStore(String name, int out, int in, float[] bias) {
            return name.equals("model.layers.0.q") ? Optional.of(STORED) : Optional.empty();
        }
    };

    @Test
    void observedSeesAndKeepsBothKindsOfLayer() {
        Map<String, Linear> seen = new LinkedHashMap<>();
        LinearFactory f = CHECKPOINT.observed(seen::put);
        Tensor w = new Tensor("w", DType.F32, new long[] {2, 2}, MemorySegment.ofArray(new float[4]));
        Linear dense = f.create("lm_head", w, null);
        assertThat(f.fromStore("model.layers.0.q", 2, 2, null)).containsSame(STORED);
        assertThat(f.fromStore("model.layers.0.k", 2, 2, null)).isEmpty();
        assertThat(seen).containsExactly(Map.entry("lm_head", dense), Map.entry("model.layers.0.q", STORED));
    }
}
