package dev.quantflow.engine.eval;

import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.WindowForward;
import java.util.Arrays;
import java.util.function.IntFunction;

/**
 * Scores a token stream with a model and an fp32 reference side by side. Windows of ctx tokens
 * slide by ctx/2; the first window scores every position, later windows only their second half,
 * so each token is scored once with at least ctx/2 tokens of context (after the first window).
 */
public final class PerplexityEvaluator {
    private PerplexityEvaluator() {}

    /** A model and how to make its KV cache for a number of blocks. */
    public record Subject(LlamaStage stage, IntFunction<KvCache> caches) {}

    /** maxScored: stop after this many scored tokens (0 = all). */
    public static EvalResult evaluate(Subject model, Subject reference, int[] tokens, int ctx, int maxScored) {
        int vocab = model.stage().config().vocabSize();
        if (ctx < 2) throw new IllegalArgumentException("context must be at least 2 tokens");
        int stride = Math.max(1, ctx / 2);
        double nll = 0, refNll = 0, kl = 0;
        long agree = 0;
        int scored = 0;
        double[] lp = new double[vocab], lq = new double[vocab];
        Progress progress = Progress.current();
        int toScore = Math.max(1, maxScored > 0 ? Math.min(maxScored, tokens.length - 1) : tokens.length - 1);
        progress.update("evaluated tokens", 0, toScore, "tokens");
        for (int start = 0; start < tokens.length - 1; start += stride) {
            int end = Math.min(tokens.length, start + ctx);
            int[] win = Arrays.copyOfRange(tokens, start, end);
            int firstScored = start == 0 ? 0 : ctx - stride;   // predict position i+1 from logits at i
            if (firstScored >= win.length - 1) break;
            float[] q = WindowForward.logits(model.stage(), win, model.caches());
            float[] p = WindowForward.logits(reference.stage(), win, reference.caches());
            for (int i = firstScored; i < win.length - 1; i++) {
                int target = win[i + 1];
                logSoftmax(p, i * vocab, vocab, lp);
                logSoftmax(q, i * vocab, vocab, lq);
                nll -= lq[target];
                refNll -= lp[target];
                double k = 0;
                for (int v = 0; v < vocab; v++) k += Math.exp(lp[v]) * (lp[v] - lq[v]);
                kl += Math.max(0, k);
                if (argmax(lp) == argmax(lq)) agree++;
                if (++scored == maxScored) break;
            }
            progress.update("evaluated tokens", Math.min(scored, toScore), toScore, "tokens");
            if (scored == maxScored || end == tokens.length) break;
        }
        if (scored > 0 && scored < toScore) progress.update("evaluated tokens", toScore, toScore, "tokens");   // the text ended early
        if (scored == 0) throw new IllegalArgumentException("text too short to evaluate (" + tokens.length + " tokens)");
        return new EvalResult(scored, Math.exp(nll / scored), Math.exp(refNll / scored), kl / scored, (double) agree / scored);
    }

    static void logSoftmax(float[] x, int off, int n, double[] out) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp(x[off + i] - max);
        double lse = max + Math.log(sum);
        for (int i = 0; i < n; i++) out[i] = x[off + i] - lse;
    }

    static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
