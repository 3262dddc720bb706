package dev.quantflow.engine.generate;

import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.sample.SamplingParams;
import dev.quantflow.engine.structured.OutputConstraint;
import java.util.List;
import java.util.Optional;

/** What one generation asks for: how many tokens, how to sample, when to stop; constraint: what the output must be (structured output). */
public record GenerateOptions(int maxTokens, SamplingParams sampling, boolean ignoreEos, List<String> stop, Optional<OutputConstraint> constraint) {
    public static final int MAX_STOP_STRINGS = 16;

    public GenerateOptions {
        if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        stop = List.copyOf(stop);
        if (stop.size() > MAX_STOP_STRINGS)
            throw new ParameterException("stop", "at most " + MAX_STOP_STRINGS + " stop strings are allowed, got " + stop.size());
        for (String s : stop)
            if (s.isEmpty()) throw new ParameterException("stop", "stop strings must not be empty");
    }

    public GenerateOptions(int maxTokens, SamplingParams sampling, boolean ignoreEos, List<String> stop) {
        this(maxTokens, sampling, ignoreEos, stop, Optional.empty());
    }

    /** These options with the output constrained. */
    public GenerateOptions constrained(OutputConstraint c) {
        return new GenerateOptions(maxTokens, sampling, ignoreEos, stop, Optional.of(c));
    }

    public static GenerateOptions greedy(int maxTokens) {
        return new GenerateOptions(maxTokens, SamplingParams.GREEDY, false, List.of());
    }

    /** A user's max tokens: at least 1 (the engine itself accepts 0); above the int range means up to the context end. */
    public static int requestedMaxTokens(String param, long maxTokens) {
        if (maxTokens < 1) throw new ParameterException(param, param + " must be at least 1, got " + maxTokens);
        return (int) Math.min(maxTokens, Integer.MAX_VALUE);
    }
}
