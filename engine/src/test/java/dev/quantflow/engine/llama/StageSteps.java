package dev.quantflow.engine.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quantflow.engine.kv.KvCache;

/** The steps the reference-output tests take through a stage: one sequence's rows, and the ids of a JSON reference. */
public final class StageSteps {
    private StageSteps() {}

    /** The logits of the last of tokens, fed at positions start.. of one sequence whose blocks are table. */
    public static float[] forward(LlamaStage m, KvCache cache, int[] table, int[] tokens, int start) {
        int[] pos = new int[tokens.length];
        int[][] tables = new int[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            pos[i] = start + i;
            tables[i] = table;
        }
        return m.forward(null, new BatchRows(tokens, pos, tables), new int[] {tokens.length - 1}, cache);
    }

    /** A JSON array of ids. */
    public static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }
}
