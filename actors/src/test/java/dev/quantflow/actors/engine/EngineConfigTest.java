package dev.quantflow.actors.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.model.LlamaConfig;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Stage plans and the checks on engine flags. */
class EngineConfigTest {
    static LlamaConfig shape(int hidden, int layers, int intermediate, int vocab) throws Exception {
        String json = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":" + hidden + ",\"intermediate_size\":" + intermediate
                + ",\"num_hidden_layers\":" + layers + ",\"num_attention_heads\":8,\"num_key_value_heads\":8,\"vocab_size\":" + vocab + "}";
        return LlamaConfig.parse(new ObjectMapper().readTree(json), Path.of("config.json"));
    }

    static EngineConfig.Builder config() {
        return EngineConfig.builder(Path.of("model"));
    }

    @Test
    void anEvenSplitBalancesWeightsCountingTheLmHeadOnTheLastStage() throws Exception {
        LlamaConfig synth = shape(512, 8, 1408, 32000);   // lm_head = 5 layers' worth of weights
        assertThat(config().stages(2).build().stagePlan(synth)).extracting(LayerRange::layers).containsExactly(7, 1);
        LlamaConfig noHead = shape(512, 8, 1408, 8);
        assertThat(config().stages(2).build().stagePlan(noHead)).extracting(LayerRange::layers).containsExactly(4, 4);
        assertThat(config().stages(3).build().stagePlan(noHead)).extracting(LayerRange::layers).containsExactly(3, 3, 2);
        List<LayerRange> plan = config().stages(8).build().stagePlan(synth);
        assertThat(plan).extracting(LayerRange::first).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
    }

    @Test
    void aGivenSplitAndDevicesAreUsedAsGiven() throws Exception {
        List<LayerRange> plan = config().layerSplit(List.of(3, 5)).devices(List.of("cpu", "cpu")).build().stagePlan(shape(64, 8, 128, 32));
        assertThat(plan).containsExactly(new LayerRange(0, 0, 3, "cpu"), new LayerRange(1, 3, 8, "cpu"));
    }

    @Test
    void badFlagsFailWithAClearMessage() throws Exception {
        assertThatThrownBy(() -> config().layerSplit(List.of(3, 4)).build().stagePlan(shape(64, 8, 128, 32))).hasMessageContaining("covers 7 layers");
        assertThatThrownBy(() -> config().stages(9).build().stagePlan(shape(64, 8, 128, 32))).hasMessageContaining("9 stages for a model of 8 layers");
        assertThatThrownBy(() -> config().devices(List.of("cuda:0")).build()).hasMessageContaining("GPU backend");
        assertThatThrownBy(() -> config().devices(List.of("tpu")).build()).hasMessageContaining("unknown device 'tpu'");
        assertThatThrownBy(() -> config().stages(3).devices(List.of("cpu", "cpu")).build()).hasMessageContaining("2 devices for 3 stages");
        assertThatThrownBy(() -> config().maxBatchTokens(0).build()).hasMessageContaining("max batch tokens");
    }
}
