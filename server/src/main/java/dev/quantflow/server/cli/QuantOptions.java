package dev.quantflow.server.cli;

import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.Optional;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** --quant SCHEME and its extras, for the commands that quantize on the CPU (eval, quantize). */
public final class QuantOptions {
    @Option(names = "--quant", paramLabel = "SCHEME", defaultValue = "fp32",
            description = "fp32, bf16, w8a8-tensor, w8a16, w8a8-dynamic[:group=G], llm-int8[:threshold=6.0], smoothquant[:alpha=0.5], "
                    + "w4a16-rtn|w4a16-gptq|w4a16-awq[:group=128]")
    String scheme;

    @Mixin
    QuantExtras extras;

    public QuantPlan plan() {
        return extras.plan(scheme);
    }

    public KvFormat kvFormat() {
        return extras.kvFormat();
    }

    public Optional<int[]> calibTokens(Tokenizer t) {
        return extras.calibTokens(t);
    }
}
