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
        Score s = new Score(vocab);
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
                s.add(p, q, i, win[i + 1]);
                if (s.scored == maxScored) break;
            }
            progress.update("evaluated tokens", (int) Math.min(s.scored, toScore), toScore, "tokens");
            if (s.scored == maxScored || end == tokens.length) break;
        }
        if (s.scored > 0 && s.scored < toScore) progress.update("evaluated tokens", toScore, toScore, "tokens");   // the text ended early
        if (s.scored == 0) throw new IllegalArgumentException("text too short to evaluate (" + tokens.length + " tokens)");
        return s.result();
    }

    /**
     * llama-perplexity's chunking: tokens (the text tokenized whole, BOS first) cut into chunks of
     * ctx tokens, each evaluated from scratch with its first token replaced by bos, and the logits
     * at positions ctx/2 .. ctx-2 scored against the tokens that follow them (perplexity.cpp's
     * first = n_ctx/2, n_ctx - 1 - first tokens a chunk); the first maxChunks chunks (0 = all).
     */
    public static EvalResult llamaCppChunks(Subject model, Subject reference, int[] tokens, int ctx, int maxChunks, int bos) {
        int vocab = model.stage().config().vocabSize();
        if (ctx < 4) throw new IllegalArgumentException("context must be at least 4 tokens");
        int chunks = tokens.length / ctx;
        if (maxChunks > 0) chunks = Math.min(chunks, maxChunks);
        if (chunks == 0) throw new IllegalArgumentException("text too short for one chunk of " + ctx + " tokens (" + tokens.length + " tokens)");
        Score s = new Score(vocab);
        Progress progress = Progress.current();
        progress.update("evaluated chunks", 0, chunks, "chunks");
        for (int c = 0; c < chunks; c++) {
            int[] win = Arrays.copyOfRange(tokens, c * ctx, (c + 1) * ctx);
            if (bos >= 0) win[0] = bos;
            float[] q = WindowForward.logits(model.stage(), win, model.caches());
            float[] p = WindowForward.logits(reference.stage(), win, reference.caches());
            for (int i = ctx / 2; i < ctx - 1; i++) s.add(p, q, i, win[i + 1]);
            progress.update("evaluated chunks", c + 1, chunks, "chunks");
        }
        return s.result();
    }

    /** Sums of one evaluation: NLL of both models, KL(reference || model), argmax agreement. */
    private static final class Score {
        final int vocab;
        final double[] lp, lq;
        double nll, refNll, kl;
        long agree, scored;

        Score(int vocab) {
            this.vocab = vocab;
            lp = new double[vocab];
            lq = new double[vocab];
        }

        /** Position i of the logits p (reference) and q (model), predicting target. */
        void add(float[] p, float[] q, int i, int target) {
            logSoftmax(p, i * vocab, vocab, lp);
            logSoftmax(q, i * vocab, vocab, lq);
            nll -= lq[target];
            refNll -= lp[target];
            double k = 0;
            for (int v = 0; v < vocab; v++) k += Math.exp(lp[v]) * (lp[v] - lq[v]);
            kl += Math.max(0, k);
            if (argmax(lp) == argmax(lq)) agree++;
            scored++;
        }

        EvalResult result() {
            return new EvalResult((int) scored, Math.exp(nll / scored), Math.exp(refNll / scored), kl / scored, (double) agree / scored);
        }
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
