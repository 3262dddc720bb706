package dev.quantflow.engine.quant;

/**
 * SmoothQuant (Xiao et al. 2023): per input channel j, s_j = max|X_j|^alpha / max|W_j|^(1-alpha);
 * X / s is easy to quantize per token, W * s per channel. The 1/s goes into the op that produces
 * X (RMSNorm weight, v_proj or up_proj rows; see {@link ChannelFold}), so the division is free.
 */
public final class SmoothQuant {
    private SmoothQuant() {}

    /** The smoothing factors of one fold, from calibration statistics of its input. */
    public static float[] factors(ChannelFold fold, InputStats input, WeightEdits weights, float alpha) {
        float[] act = fold.maxPerParam(input.absMax());
        float[] wmax = fold.maxPerParam(fold.weightColumnMax(weights));
        float[] s = new float[fold.params()];
        for (int p = 0; p < s.length; p++) {
            if (act[p] <= 0 || wmax[p] <= 0) {
                s[p] = 1f;
                continue;
            }
            double v = Math.pow(act[p], alpha) / Math.pow(wmax[p], 1 - alpha);
            s[p] = (float) Math.max(1e-5, Math.min(1e5, v));
        }
        return s;
    }

    /** Computes and folds the factors; returns them (they are saved with the model). */
    public static float[] smooth(ChannelFold fold, InputStats input, WeightEdits weights, float alpha) {
        float[] s = factors(fold, input, weights, alpha);
        fold.apply(weights, s);
        return s;
    }
}
