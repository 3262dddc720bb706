package dev.quantflow.engine.generate;

import dev.quantflow.engine.sample.SamplingParams;
import java.util.List;

/** What one generation asks for: how many tokens, how to sample, when to stop. */
public record GenerateOptions(int maxTokens, SamplingParams sampling, boolean ignoreEos, List<String> stop) {
    public GenerateOptions {
        if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        stop = List.copyOf(stop);
    }

    public static GenerateOptions greedy(int maxTokens) {
        return new GenerateOptions(maxTokens, SamplingParams.GREEDY, false, List.of());
    }
}
