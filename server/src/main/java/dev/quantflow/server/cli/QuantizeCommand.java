package dev.quantflow.server.cli;

import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedCheckpoint;
import dev.quantflow.engine.quant.QuantizedModels;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import dev.quantflow.engine.progress.Progress;

/** Quantizes a model (calibrating on text if the scheme needs it) and writes it as a loadable model directory. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a model and write it (safetensors with packed weights, scales, zero points; quantization_config in config.json).")
public final class QuantizeCommand implements Callable<Integer> {
    @Mixin
    ModelOption model;

    @Mixin
    QuantOptions quant;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write the quantized checkpoint to")
    Path out;

    @Option(names = "--format", defaultValue = "quantflow", description = "quantflow (any scheme), gptq or awq (AutoGPTQ/AutoAWQ 4-bit layout) (default: ${DEFAULT-VALUE})")
    String format;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        return Progress.during(ProgressRenderer.forCli(spec.commandLine().getErr()), this::quantize);
    }

    private Integer quantize() {
        QuantizedCheckpoint.Format f = QuantizedCheckpoint.Format.parse(format);
        QuantPlan plan = quant.plan();
        long t0 = System.nanoTime();
        try (LlamaModel m = LlamaModel.open(model.dir())) {
            if (m.weights().isGguf())
                throw new QuantflowCommand.UserError(model.dir() + ": quantize writes a Hugging Face directory beside its source's config and tokenizer files; "
                        + "give the Hugging Face directory the GGUF file was converted from (a GGUF file's own types run as they are with generate, serve and eval)");
            if (QuantizedCheckpoint.isQuantized(m.config())) throw new QuantflowCommand.UserError(model.dir() + " is already quantized; quantize the original model");
            QuantizedModels.Built b = QuantizedModels.build(m.config(), m.weights(), plan, quant.calibTokens(m.tokenizer()), QuantizedModels.Options.DEFAULT);
            QuantizedCheckpoint.save(b, model.dir(), out, f);
            spec.commandLine().getErr().printf(Locale.ROOT, "wrote %s (%s, %s format): linear weights %d bytes, in %.1f s%n",
                    out, plan, f.name().toLowerCase(Locale.ROOT), b.weightBytes(), (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }
}
