package dev.quantflow.server.api;

import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.sample.SamplingParams;
import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The generation parameters both protocols accept, validated by the engine's own rules
 * ({@link SamplingParams#of}, {@link GenerateOptions}), the ones the CLI applies too. Absent values
 * take OpenAI's defaults (temperature 1, top_p 1); maxTokens absent means up to the context end.
 * topLogprobs is -1 when no logprobs are wanted; an absent seed is drawn here.
 */
public record GenerationParams(OptionalInt maxTokens, SamplingParams sampling, List<String> stop, boolean ignoreEos, int topLogprobs) {
    public static final int MAX_STOP_STRINGS = GenerateOptions.MAX_STOP_STRINGS;
    public static final int MAX_TOP_LOGPROBS = 20;

    public GenerationParams {
        stop = List.copyOf(stop);
    }

    /** Checks every field; the first problem becomes a 400 / INVALID_ARGUMENT naming the field. */
    public static GenerationParams validated(String maxTokensParam, OptionalLong maxTokens, double temperature, double topP, long topK, double minP,
                                             OptionalLong seed, List<String> stop, boolean ignoreEos, String logprobsParam, int topLogprobs) {
        try {
            OptionalInt max = maxTokens.isPresent() ? OptionalInt.of(GenerateOptions.requestedMaxTokens(maxTokensParam, maxTokens.getAsLong())) : OptionalInt.empty();
            SamplingParams sampling = SamplingParams.of(temperature, topK, topP, minP, seed.orElseGet(() -> ThreadLocalRandom.current().nextLong()));
            new GenerateOptions(0, sampling, ignoreEos, stop);   // the engine's checks of the stop strings
            if (topLogprobs < -1 || topLogprobs > MAX_TOP_LOGPROBS)
                throw new ParameterException(logprobsParam, logprobsParam + " must be between 0 and " + MAX_TOP_LOGPROBS + ", got " + topLogprobs);
            return new GenerationParams(max, sampling, stop, ignoreEos, topLogprobs);
        } catch (ParameterException e) {
            throw invalid(e);
        }
    }

    public static ApiException invalid(ParameterException e) {
        return ApiError.invalid(e.param(), e.getMessage()).exception();
    }

    /** The engine's options; max tokens default to (and are clamped by the engine at) the context end. */
    public GenerateOptions options(int contextLength) {
        return new GenerateOptions(Math.min(maxTokens.orElse(contextLength), contextLength), sampling, ignoreEos, stop);
    }
}
