package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.WindowForward;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.progress.Progress;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * Runs the unquantized model over calibration tokens (windows of the context length) with every
 * linear wrapped by a recorder, and returns the statistics of each linear input by
 * {@link LinearNames#inputKey}. The forward pass itself is unchanged.
 */
public final class Calibration {
    public static final int DEFAULT_SAMPLE_ROWS = 256;

    private Calibration() {}

    /** hessianFor: the input keys that need X^T X (GPTQ); lm_head's input is not recorded. */
    public static Map<String, InputStats> collect(LlamaConfig c, WeightStore weights, int[] tokens, int window, Set<String> hessianFor, int sampleRows) {
        return collect(c, weights, tokens, window, hessianFor, sampleRows, false);
    }

    /**
     * headInput: also record lm_head's input (the final norm's output at every position, for a
     * head that GPTQ or AWQ quantizes), which costs the logits of every calibration token.
     */
    public static Map<String, InputStats> collect(LlamaConfig c, WeightStore weights, int[] tokens, int window, Set<String> hessianFor, int sampleRows,
                                                  boolean headInput) {
        Map<String, InputStats> stats = new LinkedHashMap<>();
        LinearFactory recording = (name, weight, bias) -> {
            Linear inner = new DenseLinear(weight, bias);
            if (!LinearNames.recordsInput(name)) return inner;
            String key = LinearNames.inputKey(name);
            InputStats s = stats.computeIfAbsent(key, k -> new InputStats(inner.inFeatures(), hessianFor.contains(k), sampleRows));
            return new RecordingLinear(inner, s);
        };
        LlamaStage stage = new LlamaStage(c, weights, 0, c.numLayers(), recording);
        int w = Math.min(window, c.maxPositions());
        Progress progress = Progress.current();
        progress.update("calibration tokens", 0, Math.max(1, tokens.length), "tokens");
        for (int s = 0; s < tokens.length; s += w) {
            int[] win = Arrays.copyOfRange(tokens, s, Math.min(tokens.length, s + w));
            if (win.length < 2) break;
            IntFunction<KvCache> cache = blocks -> new F32KvCache(c.numLayers(), blocks, KvCache.BLOCK_SIZE, c.numHeads(), c.numKvHeads(), c.headDim());
            if (headInput) WindowForward.logits(stage, win, cache);
            else WindowForward.run(stage, win, cache);
            progress.update("calibration tokens", s + win.length, tokens.length, "tokens");
        }
        return stats;
    }

    /** Passes through, recording each input batch first. */
    record RecordingLinear(Linear inner, InputStats stats) implements Linear {
        public int inFeatures() { return inner.inFeatures(); }
        public int outFeatures() { return inner.outFeatures(); }
        public long weightBytes() { return inner.weightBytes(); }
        public String scheme() { return inner.scheme(); }

        public void forward(float[] x, int rows, float[] y) {
            stats.record(x, rows);
            inner.forward(x, rows, y);
        }
    }
}
