package dev.quantflow.server.cli;

import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.Optional;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** --quant SCHEME and its extras, for the commands that quantize on the CPU (eval, quantize). */
public final class QuantOptions {
    @Option(names = "--quant", paramLabel = "SCHEME", description = CliHelp.QUANT_SCHEMES + CliHelp.QUANT_KEY)
    String scheme = ConfigDefaults.engineString("quant");

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
