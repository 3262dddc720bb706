package dev.quantflow.engine.llama;

/**
 * The token rows of one step: row r is token tokens[r] at position positions[r] of the sequence
 * whose KV block table is blockTables[r] (rows of one sequence share the array, in position
 * order). Prefill chunks and decode tokens of many sequences mix freely.
 */
public record BatchRows(int[] tokens, int[] positions, int[][] blockTables) {
    public BatchRows {
        if (tokens.length != positions.length || tokens.length != blockTables.length)
            throw new IllegalArgumentException("tokens, positions and blockTables must have one entry per row");
    }

    public int rows() {
        return tokens.length;
    }

    public int maxPosition() {
        int m = 0;
        for (int p : positions) m = Math.max(m, p);
        return m;
    }
}
