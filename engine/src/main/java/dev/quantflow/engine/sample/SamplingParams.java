package dev.quantflow.engine.sample;

import java.util.Map;
import java.util.TreeMap;

/**
 * How the next token is chosen from the logits. temperature 0 means greedy (argmax); topK 0, topP 1
 * and minP 0 disable those filters. The same seed with the same logits gives the same tokens.
 * These are the limits every front end (HTTP, gRPC, CLI) applies, with the same messages.
 * The logits are adjusted before any of that, in vLLM's order: logitBias (token id -> added
 * logit; -100 bans in effect), then repetitionPenalty (HF/vLLM: over the prompt and the generated
 * tokens, a positive logit divided by it, a negative one multiplied; 1 = off), then
 * frequencyPenalty (times the token's count so far) and presencePenalty (once if it appeared),
 * both OpenAI's, over the generated tokens only (0 = off).
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, long seed,
                             float presencePenalty, float frequencyPenalty, float repetitionPenalty, Map<Integer, Float> logitBias) {
    public static final float MAX_TEMPERATURE = 2f;
    public static final float MAX_PENALTY = 2f;        // OpenAI's range for presence/frequency: [-2, 2]
    public static final float MAX_BIAS = 100f;         // OpenAI's range for logit_bias values: [-100, 100]
    public static final int MAX_LOGIT_BIAS_ENTRIES = 1024;
    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0L);

    public SamplingParams {
        logitBias = Map.copyOf(logitBias);
        checkPenalties(presencePenalty, frequencyPenalty, repetitionPenalty, logitBias);
        if (!(temperature >= 0f && temperature <= MAX_TEMPERATURE))
            throw new ParameterException("temperature", "temperature must be between 0 and 2, got " + temperature);
        if (topK < 0) throw new ParameterException("top_k", "top_k must be -1 or 0 (off) or a positive number of tokens, got " + topK);
        if (!(topP > 0f && topP <= 1f)) throw new ParameterException("top_p", "top_p must be in (0, 1], got " + topP);
        if (!(minP >= 0f && minP <= 1f)) throw new ParameterException("min_p", "min_p must be between 0 and 1, got " + minP);
    }

    public SamplingParams(float temperature, int topK, float topP, long seed) {
        this(temperature, topK, topP, 0f, seed);
    }

    public SamplingParams(float temperature, int topK, float topP, float minP, long seed) {
        this(temperature, topK, topP, minP, seed, 0f, 0f, 1f, Map.of());
    }

    /** The same parameters with another seed (the n choices of one request: seed + index, as vLLM). */
    public SamplingParams withSeed(long seed) {
        return new SamplingParams(temperature, topK, topP, minP, seed, presencePenalty, frequencyPenalty, repetitionPenalty, logitBias);
    }

    /**
     * The same parameters with the logit adjustments a user sent (doubles, checked as sent and as
     * floats). logitBias keys are token ids; the vocabulary bound is checked by GenerateOptions#checkVocabulary.
     */
    public SamplingParams withAdjustments(double presence, double frequency, double repetition, Map<Integer, Double> bias) {
        Map<Integer, Float> b = new TreeMap<>();
        for (Map.Entry<Integer, Double> e : bias.entrySet()) {
            double v = e.getValue();
            if (!(v >= -MAX_BIAS && v <= MAX_BIAS))
                throw new ParameterException("logit_bias", "logit_bias values must be between -100 and 100, got " + v + " for token " + e.getKey());
            b.put(e.getKey(), (float) v);
        }
        if (!(presence >= -MAX_PENALTY && presence <= MAX_PENALTY))
            throw new ParameterException("presence_penalty", "presence_penalty must be between -2 and 2, got " + presence);
        if (!(frequency >= -MAX_PENALTY && frequency <= MAX_PENALTY))
            throw new ParameterException("frequency_penalty", "frequency_penalty must be between -2 and 2, got " + frequency);
        if (!(repetition > 0 && (float) repetition > 0f && Double.isFinite(repetition)))
            throw new ParameterException("repetition_penalty", "repetition_penalty must be greater than 0 (1 = off), got " + repetition);
        return new SamplingParams(temperature, topK, topP, minP, seed, (float) presence, (float) frequency, (float) repetition, b);
    }

    private static void checkPenalties(float presence, float frequency, float repetition, Map<Integer, Float> bias) {
        if (!(presence >= -MAX_PENALTY && presence <= MAX_PENALTY))
            throw new ParameterException("presence_penalty", "presence_penalty must be between -2 and 2, got " + presence);
        if (!(frequency >= -MAX_PENALTY && frequency <= MAX_PENALTY))
            throw new ParameterException("frequency_penalty", "frequency_penalty must be between -2 and 2, got " + frequency);
        if (!(repetition > 0f && Float.isFinite(repetition)))
            throw new ParameterException("repetition_penalty", "repetition_penalty must be greater than 0 (1 = off), got " + repetition);
        if (bias.size() > MAX_LOGIT_BIAS_ENTRIES)
            throw new ParameterException("logit_bias", "logit_bias may hold at most " + MAX_LOGIT_BIAS_ENTRIES + " tokens, got " + bias.size());
        for (Map.Entry<Integer, Float> e : bias.entrySet()) {
            if (e.getKey() < 0) throw new ParameterException("logit_bias", "logit_bias keys must be token ids (>= 0), got " + e.getKey());
            float v = e.getValue();
            if (!(v >= -MAX_BIAS && v <= MAX_BIAS))
                throw new ParameterException("logit_bias", "logit_bias values must be between -100 and 100, got " + v + " for token " + e.getKey());
        }
    }

    /** Whether any logit adjustment is on (otherwise the sampler reads the logits as they are). */
    public boolean adjustsLogits() {
        return presencePenalty != 0f || frequencyPenalty != 0f || repetitionPenalty != 1f || !logitBias.isEmpty();
    }

    /**
     * From the values a user sent (JSON numbers are doubles; topK -1 is off). Each is checked both
     * as sent and as the float the sampler uses, so 1e-300 for top_p, which is 0 as a float, is
     * refused here instead of passing as a double and failing later.
     */
    public static SamplingParams of(double temperature, long topK, double topP, double minP, long seed) {
        float t = (float) temperature, p = (float) topP, m = (float) minP;
        if (!(temperature >= 0 && temperature <= MAX_TEMPERATURE))
            throw new ParameterException("temperature", "temperature must be between 0 and 2, got " + temperature);
        if (!(topP > 0 && topP <= 1 && p > 0f))
            throw new ParameterException("top_p", "top_p must be in (0, 1], got " + topP + (topP > 0 && topP <= 1 ? " (0 as a 32-bit float)" : ""));
        if (!(minP >= 0 && minP <= 1))
            throw new ParameterException("min_p", "min_p must be between 0 and 1, got " + minP);
        if (topK < -1 || topK > Integer.MAX_VALUE)
            throw new ParameterException("top_k", "top_k must be -1 or 0 (off) or a positive number of tokens up to " + Integer.MAX_VALUE + ", got " + topK);
        // a temperature below the smallest float is 0: greedy, the limit it approaches
        return new SamplingParams(t, (int) Math.max(topK, 0), p, m, seed);
    }

    public boolean greedy() {
        return temperature == 0f || topK == 1;
    }
}
