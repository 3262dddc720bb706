package dev.quantflow.engine.llama;

import dev.quantflow.engine.model.LlamaConfig;

/**
 * Rotary position embedding in Hugging Face's rotate-half layout: within each head, element i
 * pairs with i + headDim/2 and both rotate by pos * invFreq[i]. Frequencies in fp32 as HF does;
 * Llama 3.1's "llama3" scaling stretches the low frequencies.
 */
final class Rope {
    private final int headDim;
    private final float[] invFreq;  // (headDim/2)

    Rope(LlamaConfig c) {
        headDim = c.headDim();
        int half = headDim / 2;
        invFreq = new float[half];
        for (int i = 0; i < half; i++) invFreq[i] = (float) (1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / headDim));
        LlamaConfig.RopeScaling s = c.ropeScaling();
        if (s.type().equals("factors")) {
            if (s.freqFactors().size() != half) throw new IllegalArgumentException(s.freqFactors().size() + " RoPE frequency factors for " + half + " frequencies");
            for (int i = 0; i < half; i++) invFreq[i] = invFreq[i] / s.freqFactors().get(i);   // ggml: theta / freq_factor
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

    /** The frequencies (headDim/2), a copy: device kernels compute the same angles from them. */
    float[] invFreq() {
        return invFreq.clone();
    }

    /** Rotates heads heads of x starting at off, for position pos; cos/sin are scratch of headDim/2. */
    void apply(float[] x, int off, int heads, int pos, float[] cos, float[] sin) {
        angles(pos, cos, sin, 0);
        rotate(x, off, heads, cos, sin, 0);
    }

    /** cos and sin of pos * invFreq into cos/sin[co .. co + headDim/2): the same for every layer. */
    void angles(int pos, float[] cos, float[] sin, int co) {
        for (int i = 0; i < headDim / 2; i++) {
            float angle = pos * invFreq[i];
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
