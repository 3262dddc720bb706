package dev.quantflow.engine.eval;

import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.sample.Sampler;
import java.util.function.IntFunction;

/** Greedy single-sequence decode speed: prefill a prompt, then time n one-token steps. */
public final class DecodeSpeed {
    private DecodeSpeed() {}

    /** Decode tokens per second over n steps after the prompt (the first step warms up and is not timed). */
    public static double tokensPerSecond(LlamaStage stage, IntFunction<KvCache> caches, int[] prompt, int n) {
        int vocab = stage.config().vocabSize(), bs = KvCache.BLOCK_SIZE;
        int total = Math.min(stage.config().maxPositions(), prompt.length + n + 1);
        if (prompt.length >= total) throw new IllegalArgumentException("prompt leaves no room to decode");
        KvCache cache = caches.apply((total + bs - 1) / bs);
        int[] table = new int[(total + bs - 1) / bs];
        for (int i = 0; i < table.length; i++) table[i] = i;
        float[] logits = step(stage, cache, table, prompt, 0);
        int pos = prompt.length, next = Sampler.argmax(logits, 0, vocab);
        logits = step(stage, cache, table, new int[] {next}, pos++);
        long t0 = System.nanoTime();
        int steps = 0;
        while (pos < total) {
            next = Sampler.argmax(logits, 0, vocab);
            logits = step(stage, cache, table, new int[] {next}, pos++);
            steps++;
        }
        return steps * 1e9 / Math.max(1, System.nanoTime() - t0);
    }

    private static float[] step(LlamaStage stage, KvCache cache, int[] table, int[] tokens, int start) {
        int[] pos = new int[tokens.length];
        int[][] tables = new int[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            pos[i] = start + i;
            tables[i] = table;
        }
        return stage.forward(null, new BatchRows(tokens, pos, tables), new int[] {tokens.length - 1}, cache);
    }
}
