package dev.quantflow.server.api;

import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.engine.sample.SamplingParams;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The generation parameters both protocols accept, validated by the engine's own rules
 * ({@link SamplingParams#of}, {@link GenerateOptions}), the ones the CLI applies too. Absent values
 * take OpenAI's defaults (temperature 1, top_p 1); maxTokens absent means up to the context end.
 * topLogprobs is -1 when no logprobs are wanted; an absent seed is drawn here. n, bestOf and the
 * vLLM extensions (min_tokens, stop_token_ids, skip_special_tokens, include_stop_str_in_output)
 * come from {@link Extensions}.
 */
public record GenerationParams(OptionalInt maxTokens, SamplingParams sampling, List<String> stop, boolean ignoreEos, int topLogprobs,
                               int n, int bestOf, int minTokens, List<Integer> stopTokenIds, boolean skipSpecialTokens, boolean includeStopStrInOutput) {
    public static final int MAX_STOP_STRINGS = GenerateOptions.MAX_STOP_STRINGS;
    public static final int MAX_TOP_LOGPROBS = 20;
    public static final int MAX_N = GenerateRequest.MAX_N;

    public GenerationParams {
        stop = List.copyOf(stop);
        stopTokenIds = List.copyOf(stopTokenIds);
    }

    public GenerationParams(OptionalInt maxTokens, SamplingParams sampling, List<String> stop, boolean ignoreEos, int topLogprobs) {
        this(maxTokens, sampling, stop, ignoreEos, topLogprobs, 1, 1, 0, List.of(), true, false);
    }

    /** The parameters beyond the basic ones, as sent (OpenAI's penalties, logit_bias, n, best_of; vLLM's extensions). */
    public record Extensions(double presencePenalty, double frequencyPenalty, double repetitionPenalty, Map<Integer, Double> logitBias,
                             int n, int bestOf, int minTokens, List<Integer> stopTokenIds, boolean skipSpecialTokens, boolean includeStopStrInOutput) {
        public static final Extensions NONE = new Extensions(0, 0, 1, Map.of(), 1, 1, 0, List.of(), true, false);
    }

    /** Checks every field; the first problem becomes a 400 / INVALID_ARGUMENT naming the field. */
    public static GenerationParams validated(String maxTokensParam, OptionalLong maxTokens, double temperature, double topP, long topK, double minP,
                                             OptionalLong seed, List<String> stop, boolean ignoreEos, String logprobsParam, int topLogprobs) {
        return validated(maxTokensParam, maxTokens, temperature, topP, topK, minP, seed, stop, ignoreEos, logprobsParam, topLogprobs, Extensions.NONE, Integer.MAX_VALUE);
    }

    /** The same with the extensions; token ids (logit_bias keys, stop_token_ids) are checked against vocabSize. */
    public static GenerationParams validated(String maxTokensParam, OptionalLong maxTokens, double temperature, double topP, long topK, double minP,
                                             OptionalLong seed, List<String> stop, boolean ignoreEos, String logprobsParam, int topLogprobs,
                                             Extensions x, int vocabSize) {
        try {
            OptionalInt max = maxTokens.isPresent() ? OptionalInt.of(GenerateOptions.requestedMaxTokens(maxTokensParam, maxTokens.getAsLong())) : OptionalInt.empty();
            SamplingParams sampling = SamplingParams.of(temperature, topK, topP, minP, seed.orElseGet(() -> ThreadLocalRandom.current().nextLong()))
                    .withAdjustments(x.presencePenalty(), x.frequencyPenalty(), x.repetitionPenalty(), x.logitBias());
            new GenerateOptions(0, sampling, ignoreEos, stop, x.minTokens(), x.stopTokenIds(), x.skipSpecialTokens(), x.includeStopStrInOutput())
                    .checkVocabulary(vocabSize);   // the engine's checks of the stop strings, min_tokens and token ids
            if (topLogprobs < -1 || topLogprobs > MAX_TOP_LOGPROBS)
                throw new ParameterException(logprobsParam, logprobsParam + " must be between 0 and " + MAX_TOP_LOGPROBS + ", got " + topLogprobs);
            if (x.n() < 1 || x.n() > MAX_N) throw new ParameterException("n", "n must be between 1 and " + MAX_N + ", got " + x.n());
            if (x.bestOf() < x.n() || x.bestOf() > MAX_N)
                throw new ParameterException("best_of", "best_of must be between n (" + x.n() + ") and " + MAX_N + ", got " + x.bestOf());
            if (max.isPresent() && x.minTokens() > max.getAsInt())
                throw new ParameterException("min_tokens", "min_tokens must be at most " + maxTokensParam + " (" + max.getAsInt() + "), got " + x.minTokens());
            return new GenerationParams(max, sampling, stop, ignoreEos, topLogprobs, x.n(), x.bestOf(), x.minTokens(), x.stopTokenIds(),
                    x.skipSpecialTokens(), x.includeStopStrInOutput());
        } catch (ParameterException e) {
            throw invalid(e);
        }
    }

    public static ApiException invalid(ParameterException e) {
        return ApiError.invalid(e.param(), e.getMessage()).exception();
    }

    /** The engine's options; max tokens default to (and are clamped by the engine at) the context end. */
    public GenerateOptions options(int contextLength) {
        return new GenerateOptions(Math.min(maxTokens.orElse(contextLength), contextLength), sampling, ignoreEos, stop,
                minTokens, stopTokenIds, skipSpecialTokens, includeStopStrInOutput);
    }

    /** The engine's request: bestOf sequences of these options, n of them returned. */
    public GenerateRequest request(String requestId, Prompt prompt, int contextLength) {
        return request(requestId, prompt, contextLength, -1);
    }

    /** promptTopLogprobs >= 0: each choice also gets the prompt's logprobs with that many alternatives (echo with logprobs, prompt_logprobs). */
    public GenerateRequest request(String requestId, Prompt prompt, int contextLength, int promptTopLogprobs) {
        return new GenerateRequest(requestId, prompt, options(contextLength), topLogprobs, n, bestOf, promptTopLogprobs);
    }
}
