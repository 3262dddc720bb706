package dev.quantflow.engine.generate;

import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.sample.SamplingParams;
import dev.quantflow.engine.structured.OutputConstraint;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What one generation asks for: how many tokens, how to sample, when to stop; constraint: what the
 * output must be (structured output). vLLM's extensions: minTokens (EOS and stopTokenIds are
 * impossible before that many tokens, and no stop string matches), stopTokenIds (end the sequence,
 * finish reason "stop"; the token counts, its text only with includeStopStrInOutput),
 * skipSpecialTokens (false: BOS/EOS render as their text), includeStopStrInOutput (the stop string
 * or stop token's text ends the output).
 */
public record GenerateOptions(int maxTokens, SamplingParams sampling, boolean ignoreEos, List<String> stop, Optional<OutputConstraint> constraint,
                              int minTokens, List<Integer> stopTokenIds, boolean skipSpecialTokens, boolean includeStopStrInOutput) {
    public static final int MAX_STOP_STRINGS = 16;
    public static final int MAX_STOP_TOKEN_IDS = 256;

    public GenerateOptions {
        if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        stop = List.copyOf(stop);
        stopTokenIds = List.copyOf(stopTokenIds);
        if (stop.size() > MAX_STOP_STRINGS)
            throw new ParameterException("stop", "at most " + MAX_STOP_STRINGS + " stop strings are allowed, got " + stop.size());
        for (String s : stop)
            if (s.isEmpty()) throw new ParameterException("stop", "stop strings must not be empty");
        if (minTokens < 0) throw new ParameterException("min_tokens", "min_tokens must be >= 0, got " + minTokens);
        if (stopTokenIds.size() > MAX_STOP_TOKEN_IDS)
            throw new ParameterException("stop_token_ids", "at most " + MAX_STOP_TOKEN_IDS + " stop token ids are allowed, got " + stopTokenIds.size());
        for (int id : stopTokenIds)
            if (id < 0) throw new ParameterException("stop_token_ids", "stop_token_ids must be token ids (>= 0), got " + id);
    }

    public GenerateOptions(int maxTokens, SamplingParams sampling, boolean ignoreEos, List<String> stop) {
        this(maxTokens, sampling, ignoreEos, stop, Optional.empty());
    }

    public GenerateOptions(int maxTokens, SamplingParams sampling, boolean ignoreEos, List<String> stop, Optional<OutputConstraint> constraint) {
        this(maxTokens, sampling, ignoreEos, stop, constraint, 0, List.of(), true, false);
    }

    public GenerateOptions(int maxTokens, SamplingParams sampling, boolean ignoreEos, List<String> stop,
                           int minTokens, List<Integer> stopTokenIds, boolean skipSpecialTokens, boolean includeStopStrInOutput) {
        this(maxTokens, sampling, ignoreEos, stop, Optional.empty(), minTokens, stopTokenIds, skipSpecialTokens, includeStopStrInOutput);
    }

    /** These options with the output constrained. */
    public GenerateOptions constrained(OutputConstraint c) {
        return new GenerateOptions(maxTokens, sampling, ignoreEos, stop, Optional.of(c), minTokens, stopTokenIds, skipSpecialTokens, includeStopStrInOutput);
    }

    public static GenerateOptions greedy(int maxTokens) {
        return new GenerateOptions(maxTokens, SamplingParams.GREEDY, false, List.of());
    }

    /** The same options with another sampler seed (one choice of several). */
    public GenerateOptions withSeed(long seed) {
        return new GenerateOptions(maxTokens, sampling.withSeed(seed), ignoreEos, stop, constraint, minTokens, stopTokenIds, skipSpecialTokens, includeStopStrInOutput);
    }

    /** The same options with another token budget. */
    public GenerateOptions withMaxTokens(int maxTokens) {
        return new GenerateOptions(maxTokens, sampling, ignoreEos, stop, constraint, minTokens, stopTokenIds, skipSpecialTokens, includeStopStrInOutput);
    }

    /** Token ids (stop_token_ids, logit_bias keys) must lie in the model's vocabulary. */
    public GenerateOptions checkVocabulary(int vocabSize) {
        for (int id : stopTokenIds)
            if (id >= vocabSize) throw new ParameterException("stop_token_ids", "token id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        for (Map.Entry<Integer, Float> e : sampling.logitBias().entrySet())
            if (e.getKey() >= vocabSize) throw new ParameterException("logit_bias", "token id " + e.getKey() + " is outside the vocabulary [0, " + vocabSize + ")");
        return this;
    }

    /** A user's max tokens: at least 1 (the engine itself accepts 0); above the int range means up to the context end. */
    public static int requestedMaxTokens(String param, long maxTokens) {
        if (maxTokens < 1) throw new ParameterException(param, param + " must be at least 1, got " + maxTokens);
        return (int) Math.min(maxTokens, Integer.MAX_VALUE);
    }
}
