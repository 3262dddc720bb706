package dev.quantflow.engine.llama;

import dev.quantflow.engine.model.LlamaConfig;

/**
 * Rotary position embedding in Hugging Face's rotate-half layout: within each head, element i
 * pairs with i + headDim/2 and both rotate by pos * invFreq[i]. Frequencies in fp32 as HF does;
 * Llama 3.1's "llama3" scaling stretches the low frequencies, "linear" divides them by the factor.
 * "dynamic" (NTK) scaling depends on the sequence: as in HF's rotary embedding, one step of a
 * sequence whose last position is p uses the base grown for length p + 1 once that passes
 * max_position_embeddings (keys already cached keep the rotation they were stored with).
 */
final class Rope {
    private final int headDim;
    private final double theta;
    private final LlamaConfig.RopeScaling s;
    private final float[] invFreq;  // (headDim/2): the frequencies up to max_position_embeddings

    Rope(LlamaConfig c) {
        headDim = c.headDim();
        theta = c.ropeTheta();
        s = c.ropeScaling();
        int half = headDim / 2;
        invFreq = frequencies(theta);
        if (s.type().equals("factors")) {   // a GGUF's rope_freqs: ggml divides each frequency by its factor
            if (s.freqFactors().size() != half) throw new IllegalArgumentException(s.freqFactors().size() + " RoPE frequency factors for " + half + " frequencies");
            for (int i = 0; i < half; i++) invFreq[i] = invFreq[i] / s.freqFactors().get(i);
        }
        if (s.type().equals("linear"))
            for (int i = 0; i < half; i++) invFreq[i] = (float) (invFreq[i] / s.factor());
        if (s.type().equals("llama3")) {
            double lowWavelen = s.originalMaxPositions() / s.lowFreqFactor();
            double highWavelen = s.originalMaxPositions() / s.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / invFreq[i];
                if (wavelen > lowWavelen) {
                    invFreq[i] = (float) (invFreq[i] / s.factor());
                } else if (wavelen >= highWavelen) {
                    double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                    invFreq[i] = (float) ((1 - smooth) * invFreq[i] / s.factor() + smooth * invFreq[i]);
                }
            }
        }
    }

    private float[] frequencies(double base) {
        float[] f = new float[headDim / 2];
        for (int i = 0; i < f.length; i++) f[i] = (float) (1.0 / Math.pow(base, (2.0 * i) / headDim));
        return f;
    }

    /** Whether the frequencies depend on the sequence's length (dynamic NTK scaling). */
    boolean dynamic() {
        return s.dynamic();
    }

    /** The frequencies (headDim/2), a copy: device kernels compute the same angles from them. */
    float[] invFreq() {
        return invFreq.clone();
    }

    /** The frequencies for a step whose sequence is seqLen positions long (differs from invFreq() only when dynamic). */
    float[] invFreq(int seqLen) {
        if (!s.dynamic() || seqLen <= s.originalMaxPositions()) return invFreq;
        double grown = theta * Math.pow(s.factor() * seqLen / s.originalMaxPositions() - (s.factor() - 1), headDim / (headDim - 2.0));
        return frequencies(grown);
    }

    /** Rotates heads heads of x starting at off, for position pos; cos/sin are scratch of headDim/2. */
    void apply(float[] x, int off, int heads, int pos, float[] cos, float[] sin) {
        angles(pos, invFreq, cos, sin, 0);
        rotate(x, off, heads, cos, sin, 0);
    }

    /** cos and sin of pos * freq into cos/sin[co .. co + headDim/2): the same for every layer. */
    void angles(int pos, float[] freq, float[] cos, float[] sin, int co) {
        for (int i = 0; i < headDim / 2; i++) {
            float angle = pos * freq[i];
            cos[co + i] = (float) Math.cos(angle);
            sin[co + i] = (float) Math.sin(angle);
        }
    }

    /** Rotates heads heads of x starting at off by the angles at cos/sin[co ..]. */
    void rotate(float[] x, int off, int heads, float[] cos, float[] sin, int co) {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            int b = off + h * headDim;
            for (int i = 0; i < half; i++) {
                float x0 = x[b + i], x1 = x[b + i + half], c = cos[co + i], s = sin[co + i];
                x[b + i] = x0 * c - x1 * s;
                x[b + i + half] = x1 * c + x0 * s;
            }
        }
    }
}
