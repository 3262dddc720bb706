package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.model.LlamaConfig;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** generate (PlacementOptions) and serve (EngineConfig) place layers identically for the same flags. */
class StagePlacementAgreementTest {
    private static final Path MODEL = SharedData.path("models/sotu6M");

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void generateAndServeSplitTheLayersAlike(int stages) {
        LlamaConfig c = LlamaConfig.load(MODEL);
        PlacementOptions generate = new PlacementOptions();
        new CommandLine(new Holder(generate)).parseArgs("--stages", String.valueOf(stages));
        List<LayerRange> serve = EngineConfig.builder(MODEL).stages(stages).build().stagePlan(c);
        assertThat(generate.plan(c)).isEqualTo(serve);
        assertThat(serve.getFirst().first()).isZero();
        assertThat(serve.getLast().last()).isEqualTo(c.numLayers());
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu,cpu", "cpu,cpu,cpu"})
    void devicesAreOneForAllOrOnePerStage(String devices) {
        LlamaConfig c = LlamaConfig.load(MODEL);
        PlacementOptions generate = new PlacementOptions();
        new CommandLine(new Holder(generate)).parseArgs("--stages", "2", "--devices", devices);
        int n = devices.split(",").length;
        if (n == 2) {
            assertThat(generate.plan(c)).extracting(LayerRange::device).containsExactly("cpu", "cpu");
        } else {
            assertThatThrownBy(() -> generate.plan(c)).hasMessageContaining("3 devices for 2 stages");
            assertThatThrownBy(() -> EngineConfig.builder(MODEL).stages(2).devices(List.of("cpu", "cpu", "cpu")).build())
                    .hasMessageContaining("3 devices for 2 stages");
        }
    }

    @CommandLine.Command(name = "holder")
    static final class Holder {
        @CommandLine.Mixin
        final PlacementOptions placement;

        Holder(PlacementOptions placement) {
            this.placement = placement;
        }
    }
}
