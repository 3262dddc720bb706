package dev.quantflow.engine.sample;

/**
 * How the next token is chosen from the logits. temperature 0 means greedy (argmax); topK 0, topP 1
 * and minP 0 disable those filters. The same seed with the same logits gives the same tokens.
 * These are the limits every front end (HTTP, gRPC, CLI) applies, with the same messages.
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, long seed) {
    public static final float MAX_TEMPERATURE = 2f;
    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0L);

    public SamplingParams {
        if (!(temperature >= 0f && temperature <= MAX_TEMPERATURE))
            throw new ParameterException("temperature", "temperature must be between 0 and 2, got " + temperature);
        if (topK < 0) throw new ParameterException("top_k", "top_k must be -1 or 0 (off) or a positive number of tokens, got " + topK);
        if (!(topP > 0f && topP <= 1f)) throw new ParameterException("top_p", "top_p must be in (0, 1], got " + topP);
        if (!(minP >= 0f && minP <= 1f)) throw new ParameterException("min_p", "min_p must be between 0 and 1, got " + minP);
    }

    public SamplingParams(float temperature, int topK, float topP, long seed) {
        this(temperature, topK, topP, 0f, seed);
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
