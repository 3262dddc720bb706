package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StagedLinearFactoryTest {
    @Test
    void placesLayersByRangeAndTheHeadOnTheLastStage() {
        List<String> a = new ArrayList<>(), b = new ArrayList<>();
        LinearFactory fa = (n, w, bias) -> { a.add(n); return LinearFactory.DENSE.create(n, w, bias); };
        LinearFactory fb = (n, w, bias) -> { b.add(n); return LinearFactory.DENSE.create(n, w, bias); };
        StagedLinearFactory f = new StagedLinearFactory(List.of(fa, fb), StagedLinearFactory.evenBounds(5, 2));
        Tensor w = new Tensor("w", DType.F32, new long[] {2, 2}, MemorySegment.ofArray(new float[4]));
        for (String name : List.of("model.layers.0.mlp.up_proj", "model.layers.1.self_attn.q_proj", "model.layers.2.mlp.down_proj",
                "model.layers.4.mlp.up_proj", "lm_head")) f.create(name, w, null);
        assertThat(a).containsExactly("model.layers.0.mlp.up_proj", "model.layers.1.self_attn.q_proj");
        assertThat(b).containsExactly("model.layers.2.mlp.down_proj", "model.layers.4.mlp.up_proj", "lm_head");
        assertThatThrownBy(() -> f.create("model.layers.5.mlp.up_proj", w, null)).hasMessageContaining("past the last stage");
    }

    @Test
    void evenBoundsCoverEveryLayerOnce() {
        assertThat(StagedLinearFactory.evenBounds(5, 2)).containsExactly(0, 2, 5);
        assertThat(StagedLinearFactory.evenBounds(6, 3)).containsExactly(0, 2, 4, 6);
        assertThatThrownBy(() -> StagedLinearFactory.evenBounds(2, 3)).hasMessageContaining("cannot split");
    }
}
