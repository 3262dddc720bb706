package dev.quantflow.server.cli;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.SyntheticModel;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import dev.quantflow.engine.progress.Progress;
import picocli.CommandLine.Option;

/** Writes a random-weight Llama checkpoint of a given shape (for speed benchmarks). */
@Command(name = "synth-model", mixinStandardHelpOptions = true,
        description = "Write a random-weight Hugging Face Llama checkpoint of any shape.")
public final class SynthModelCommand implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "1")
    ShapeSource source;

    static final class ShapeSource {
        @Option(names = "--like", paramLabel = "DIR", description = "Copy the shape of this model's config.json")
        Path like;

        @ArgGroup(exclusive = false)
        Dims dims;
    }

    static final class Dims {
        @Option(names = "--hidden", required = true, description = "Hidden size (the residual stream width)") int hidden;
        @Option(names = "--layers", required = true, description = "Decoder layers") int layers;
        @Option(names = "--heads", required = true, description = "Attention (query) heads; must divide --hidden") int heads;
        @Option(names = "--kv-heads", description = "Key/value heads, for grouped-query attention; must divide --heads (default: --heads)") Integer kvHeads;
        @Option(names = "--intermediate", required = true, description = "MLP hidden size (gate/up rows)") int intermediate;
        @Option(names = "--vocab", required = true, description = "Vocabulary size; at most the tokenizer's") int vocab;
        @Option(names = "--max-positions", defaultValue = "2048", description = "Context length (default: ${DEFAULT-VALUE})") int maxPositions;
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--dtype", defaultValue = "f32", description = "Weight storage: f32 or bf16 (default: ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--tokenizer", required = true, paramLabel = "DIR", description = "Directory whose tokenizer.json (and configs) the model gets")
    Path tokenizer;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the random weights (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write the checkpoint to")
    Path out;

    @Override
    public Integer call() {
        SyntheticModel.Shape shape;
        if (source.like != null) {
            shape = SyntheticModel.shapeOf(LlamaConfig.load(source.like));
        } else {
            Dims d = source.dims;
            shape = new SyntheticModel.Shape(d.hidden, d.layers, d.heads, d.kvHeads == null ? d.heads : d.kvHeads, d.intermediate, d.vocab, d.maxPositions);
        }
        DType dt = switch (dtype.toLowerCase()) {
            case "f32", "fp32", "float32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            default -> throw new QuantflowCommand.UserError("--dtype must be f32 or bf16, got " + dtype);
        };
        long t0 = System.nanoTime();
        Progress.during(ProgressRenderer.forCli(spec.commandLine().getErr()), () -> SyntheticModel.write(shape, dt, tokenizer, seed, out));
        spec.commandLine().getErr().printf(Locale.ROOT, "wrote %s (%s) in %.1f s%n", out, shape, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
