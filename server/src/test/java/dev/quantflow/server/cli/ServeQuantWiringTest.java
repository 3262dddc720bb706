package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.kv.F16KvCache;
import dev.quantflow.engine.kv.Int8KvCache;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.LlmInt8Linear;
import dev.quantflow.engine.quant.QuantizedModels;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** `serve --quant/--kv` build the engine's linears and KV cache from the scheme names. */
class ServeQuantWiringTest {
    private static final Path MODEL = SharedData.path("models/stories260K");

    /** The linears a CPU stage builds for serve's --quant (StageWorker: QuantizedModels.atLoad with the config's scheme). */
    private static Linear stageLinear(String quant, WeightStore w) {
        EngineConfig config = EngineConfig.builder(MODEL).quant(quant).build();
        return QuantizedModels.atLoad(LlamaConfig.load(MODEL), w, config.quant()).create("model.layers.0.self_attn.q_proj", w.get("model.layers.0.self_attn.q_proj.weight"), null);
    }

    @Test
    void calibrationFreeSchemesAreBuiltAtLoadAndProbed() {
        try (WeightStore w = WeightStore.open(MODEL)) {
            var llmInt8 = stageLinear("llm-int8:threshold=6.0", w);
            assertThat(llmInt8).isInstanceOf(LlmInt8Linear.class);
            assertThat(ServeCommand.outlierFraction(llmInt8)).hasValue(0.0);
            var dense = stageLinear("fp32", w);
            assertThat(dense).isInstanceOf(DenseLinear.class);
            assertThat(ServeCommand.outlierFraction(dense)).isEmpty();
        }
    }

    @Test
    void schemesThatCalibrateAskForQuantizeFirst() {
        assertThatThrownBy(() -> ServeCommand.checkQuant(MODEL, "w4a16-gptq:group=32"))
                .isInstanceOf(QuantflowCommand.UserError.class).hasMessageContaining("quantize");
        assertThatThrownBy(() -> ServeCommand.checkQuant(MODEL, "no-such-scheme")).isInstanceOf(QuantflowCommand.UserError.class);
    }

    @Test
    void kvCacheStorageIsChosenByName() {
        LlamaConfig c = LlamaConfig.load(MODEL);
        assertThat(ServeCommand.kvCaches("int8").create(c.numLayers(), 4, 16, c.numHeads(), c.numKvHeads(), c.headDim())).isInstanceOf(Int8KvCache.class);
        assertThat(ServeCommand.kvCaches("f16").create(c.numLayers(), 4, 16, c.numHeads(), c.numKvHeads(), c.headDim())).isInstanceOf(F16KvCache.class);
        assertThatThrownBy(() -> ServeCommand.kvCaches("fp8")).hasMessageContaining("--kv").hasMessageContaining("f16");
    }
}
