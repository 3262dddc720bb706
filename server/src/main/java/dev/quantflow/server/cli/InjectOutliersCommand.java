package dev.quantflow.server.cli;

import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.CheckpointWriter;
import dev.quantflow.engine.quant.OutlierInjection;
import dev.quantflow.engine.quant.WeightEdits;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Writes a function-preserving copy of a model whose linear inputs carry fixed-channel outliers. */
@Command(name = "inject-outliers", mixinStandardHelpOptions = true,
        description = "Scale N channels of every RMSNorm weight (and v_proj/up_proj rows) by K and divide the matching input columns by K.")
public final class InjectOutliersCommand implements Callable<Integer> {
    @Mixin
    ModelOption model;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write the changed checkpoint to")
    Path out;

    @Option(names = "--channels", defaultValue = "2", description = "Channels per fold (default: ${DEFAULT-VALUE})")
    int channels;

    @Option(names = "--scale", defaultValue = "40", description = "Factor K (default: ${DEFAULT-VALUE})")
    float scale;

    @Option(names = "--seed", defaultValue = "1", description = "Seed that picks the channels (default: ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() {
        try (LlamaModel m = LlamaModel.open(model.dir())) {
            WeightEdits edits = new WeightEdits(m.weights());
            int[][] chosen = OutlierInjection.inject(m.config(), edits, channels, scale, seed);
            CheckpointWriter w = new CheckpointWriter();
            try (WeightStore view = edits.apply()) {
                for (Tensor t : view.tensors().values()) w.add(t);
                w.write(model.dir(), out, null);
            }
            System.err.printf("wrote %s: hidden channels %s, v_proj rows %s, up_proj rows %s scaled by %s%n",
                    out, Arrays.toString(chosen[0]), Arrays.toString(chosen[1]), Arrays.toString(chosen[2]), scale);
        }
        return 0;
    }
}
