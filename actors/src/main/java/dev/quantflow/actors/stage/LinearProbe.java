package dev.quantflow.actors.stage;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.quant.LlmInt8Linear;
import java.util.OptionalDouble;

/**
 * Reads a statistic a linear keeps about itself while it runs, e.g. LLM.int8()'s mean fraction
 * of outlier input columns; empty for linears that keep none. Stage workers read it on their own
 * thread about once a second and the scheduler's snapshot reports it per layer name.
 */
@FunctionalInterface
public interface LinearProbe {
    OptionalDouble outlierFraction(Linear linear);

    LinearProbe NONE = linear -> OptionalDouble.empty();

    /** What every stage reports unless a test probes something else: LLM.int8()'s outlier columns. */
    LinearProbe OUTLIERS = linear -> linear instanceof LlmInt8Linear l ? OptionalDouble.of(l.outlierStats().fraction()) : OptionalDouble.empty();
}
