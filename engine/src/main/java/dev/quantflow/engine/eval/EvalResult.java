package dev.quantflow.engine.eval;

/**
 * Perplexity of a model on text and how far its next-token distributions are from the fp32
 * reference's on the same windows (llama.cpp's perplexity tool reports the same two): mean
 * KL(P_fp32 || P_quant) in nats and the fraction of positions where both argmaxes agree.
 */
public record EvalResult(int tokens, double perplexity, double referencePerplexity, double klDivergence, double top1Agreement) {
    public double perplexityDeltaPercent() {
        return 100.0 * (perplexity / referencePerplexity - 1);
    }
}
