package dev.quantflow.engine.eval;

import dev.quantflow.engine.generate.Generator;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.LlamaStage;
import java.util.function.IntFunction;

/** One window of tokens through a full model as a single prefill from position 0, fresh KV cache. */
public final class WindowForward {
    private WindowForward() {}

    /** The final hidden states (n, dim) of tokens; the cache factory gets the number of blocks. */
    public static float[] hidden(LlamaStage stage, int[] tokens, IntFunction<KvCache> caches) {
        int n = tokens.length, bs = Generator.BLOCK_SIZE;
        KvCache cache = caches.apply((n + bs - 1) / bs);
        int[] table = new int[(n + bs - 1) / bs];
        for (int i = 0; i < table.length; i++) table[i] = i;
        int[] pos = new int[n];
        int[][] tables = new int[n][];
        for (int i = 0; i < n; i++) {
            pos[i] = i;
            tables[i] = table;
        }
        float[] x = stage.embed(tokens);
        stage.forwardLayers(x, new BatchRows(tokens, pos, tables), cache);
        return x;
    }

    /** Logits (n, vocab) at every position of tokens. */
    public static float[] logits(LlamaStage stage, int[] tokens, IntFunction<KvCache> caches) {
        float[] x = hidden(stage, tokens, caches);
        int[] all = java.util.stream.IntStream.range(0, tokens.length).toArray();
        return stage.logits(x, all);
    }
}
