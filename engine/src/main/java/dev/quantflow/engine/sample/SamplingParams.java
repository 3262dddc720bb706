package dev.quantflow.engine.sample;

/**
 * How the next token is chosen from the logits. temperature 0 means greedy (argmax); topK 0 and
 * topP 1 disable those filters. The same seed with the same logits gives the same tokens.
 */
public record SamplingParams(float temperature, int topK, float topP, long seed) {
    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0L);

    public SamplingParams {
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        if (!(topP > 0f && topP <= 1f)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
    }

    public boolean greedy() {
        return temperature == 0f || topK == 1;
    }
}
