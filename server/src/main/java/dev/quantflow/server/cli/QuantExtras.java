package dev.quantflow.server.cli;

import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedCheckpoint;
import dev.quantflow.engine.quant.QuantizedModels;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.Option;

/** What goes with a --quant scheme: --quant-layer PATTERN=SCHEME, --kv, --calib FILE, --calib-tokens N. */
public final class QuantExtras {
    @Option(names = "--quant-layer", paramLabel = "PATTERN=SCHEME", description = "Per-layer override, e.g. down_proj=w8a16 (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--kv", paramLabel = "f32|f16|int8", description = "KV cache storage: f32, f16 or int8 [quantflow.engine.kv, QUANTFLOW_KV] (default: ${DEFAULT-VALUE})")
    String kv = ConfigDefaults.engineString("kv");

    @Option(names = "--calib", paramLabel = "FILE", description = "Calibration text (needed by w8a8-tensor, smoothquant, gptq, awq; llm-int8 uses it to keep fp32 copies of outlier channels)")
    Path calib;

    @Option(names = "--calib-tokens", defaultValue = "4096", description = "Calibration tokens to use (default: ${DEFAULT-VALUE})")
    int calibTokens;

    public QuantPlan plan(String scheme) {
        return QuantPlan.parse(scheme, overrides);
    }

    public KvFormat kvFormat() {
        return KvFormat.parse(kv);
    }

    public Optional<int[]> calibTokens(Tokenizer t) {
        if (calib == null) return Optional.empty();
        if (!Files.isRegularFile(calib)) throw new QuantflowCommand.UserError("--calib " + calib + ": no such file");
        if (calibTokens <= 0) throw new QuantflowCommand.UserError("--calib-tokens must be positive");
        return Optional.of(TextTokens.load(calib, t, calibTokens));
    }

    /**
     * The model's stage on the CPU: a quantized checkpoint or a GGUF file as stored (no --quant
     * needed), else the model quantized now with plan (calibrating on --calib where the scheme needs it).
     */
    public LlamaStage stage(LlamaModel m, QuantPlan plan) {
        boolean fp32 = plan.toString().equals("fp32");
        if (QuantizedCheckpoint.isQuantized(m.config())) {
            if (!fp32) {
                try {
                    QuantizedModels.schemeAtLoad(m.config(), plan.toString());
                } catch (IllegalArgumentException e) {
                    throw new QuantflowCommand.UserError(m.dir() + ": --quant " + plan + ": " + e.getMessage());
                }
                throw new QuantflowCommand.UserError(m.dir() + " is already quantized; drop --quant");
            }
            return m.full(QuantizedModels.atLoad(m.config(), m.weights(), "fp32"));   // as serve's stages load it
        }
        if (m.weights().isGguf() && fp32) return m.full(QuantizedModels.atLoad(m.config(), m.weights(), "fp32"));   // the file's tensors in place
        return QuantizedModels.build(m.config(), m.weights(), plan, calibTokens(m.tokenizer()), QuantizedModels.Options.DEFAULT).stage();
    }
}
