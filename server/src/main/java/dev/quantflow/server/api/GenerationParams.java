package dev.quantflow.server.api;

import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.sample.SamplingParams;
import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The generation parameters both protocols accept, validated with the same rules. Absent values
 * take OpenAI's defaults (temperature 1, top_p 1); maxTokens absent means up to the context end.
 * topLogprobs is -1 when no logprobs are wanted.
 */
public record GenerationParams(OptionalInt maxTokens, double temperature, double topP, int topK, OptionalLong seed,
                               List<String> stop, boolean ignoreEos, int topLogprobs) {
    public static final int MAX_STOP_STRINGS = 16;
    public static final int MAX_TOP_LOGPROBS = 20;

    public GenerationParams {
        stop = List.copyOf(stop);
    }

    /** Checks every field; the first problem becomes a 400 / INVALID_ARGUMENT naming the field. */
    public static GenerationParams validated(String maxTokensParam, OptionalInt maxTokens, double temperature, double topP, int topK,
                                             OptionalLong seed, List<String> stop, boolean ignoreEos, String logprobsParam, int topLogprobs) {
        if (maxTokens.isPresent() && maxTokens.getAsInt() < 1)
            throw ApiError.invalid(maxTokensParam, maxTokensParam + " must be at least 1, got " + maxTokens.getAsInt()).exception();
        if (!(temperature >= 0 && temperature <= 2))
            throw ApiError.invalid("temperature", "temperature must be between 0 and 2, got " + temperature).exception();
        if (!(topP > 0 && topP <= 1))
            throw ApiError.invalid("top_p", "top_p must be in (0, 1], got " + topP).exception();
        if (topK < -1)
            throw ApiError.invalid("top_k", "top_k must be -1 or 0 (off) or a positive number of tokens, got " + topK).exception();
        if (stop.size() > MAX_STOP_STRINGS)
            throw ApiError.invalid("stop", "at most " + MAX_STOP_STRINGS + " stop strings are allowed, got " + stop.size()).exception();
        for (String s : stop)
            if (s.isEmpty()) throw ApiError.invalid("stop", "stop strings must not be empty").exception();
        if (topLogprobs < -1 || topLogprobs > MAX_TOP_LOGPROBS)
            throw ApiError.invalid(logprobsParam, logprobsParam + " must be between 0 and " + MAX_TOP_LOGPROBS + ", got " + topLogprobs).exception();
        return new GenerationParams(maxTokens, temperature, topP, Math.max(topK, 0), seed, stop, ignoreEos, topLogprobs);
    }

    /** The engine's options; max tokens default to (and are clamped by the engine at) the context end. */
    public GenerateOptions options(int contextLength) {
        long seedValue = seed.orElseGet(() -> ThreadLocalRandom.current().nextLong());
        SamplingParams sampling = new SamplingParams((float) temperature, topK, (float) topP, seedValue);
        return new GenerateOptions(Math.min(maxTokens.orElse(contextLength), contextLength), sampling, ignoreEos, stop);
    }
}
