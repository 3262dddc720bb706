package dev.quantflow.engine.llama;

import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.LlamaStage;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/** One window of tokens through a full model as a single prefill from position 0, fresh KV cache. */
public final class WindowForward {
    private WindowForward() {}

    /** Runs tokens through every layer (what the linears see), without logits; the cache factory gets the number of blocks. */
    public static void run(LlamaStage stage, int[] tokens, IntFunction<KvCache> caches) {
        forward(stage, tokens, caches, new int[0]);
    }

    /** The hidden state (n, dim) after the layers of a stage that embeds and has no head. */
    public static float[] hidden(LlamaStage stage, int[] tokens, IntFunction<KvCache> caches) {
        if (!stage.hasEmbedding() || stage.hasHead()) throw new IllegalArgumentException("hidden() needs a first stage without lm_head");
        return forward(stage, tokens, caches, new int[0]);
    }

    /** Logits (n, vocab) at every position of tokens. */
    public static float[] logits(LlamaStage stage, int[] tokens, IntFunction<KvCache> caches) {
        return forward(stage, tokens, caches, IntStream.range(0, tokens.length).toArray());
    }

    private static float[] forward(LlamaStage stage, int[] tokens, IntFunction<KvCache> caches, int[] selected) {
        int n = tokens.length, bs = KvCache.BLOCK_SIZE;
        KvCache cache = caches.apply((n + bs - 1) / bs);
        int[] table = new int[(n + bs - 1) / bs];
        for (int i = 0; i < table.length; i++) table[i] = i;
        int[] pos = new int[n];
        int[][] tables = new int[n][];
        for (int i = 0; i < n; i++) {
            pos[i] = i;
            tables[i] = table;
        }
        return stage.forward(null, new BatchRows(tokens, pos, tables), selected, cache);
    }
}
