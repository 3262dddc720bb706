package dev.quantflow.gpu.stage;

import dev.quantflow.engine.llama.BatchRows;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The integers one step's kernels read, packed so that a single copy moves them to the card, in
 * sections: per row its position, its KV slot (block * blockSize + offset), where its block table
 * starts in the tables section, and its token id; then the rows selected for logits; then the
 * block tables of the step's sequences, each once (rows of a sequence share the array).
 *
 * <p>Everything a kernel would index with is checked here first: on the card a bad block id or
 * token id is a silent out-of-bounds read or write, not an exception.
 */
record StepIndex(int rows, int selected, int[] packed) {
    int positionsAt() {
        return 0;
    }

    int slotsAt() {
        return rows;
    }

    int tableOffsetsAt() {
        return 2 * rows;
    }

    int tokensAt() {
        return 3 * rows;
    }

    int selectedAt() {
        return 4 * rows;
    }

    int tablesAt() {
        return 4 * rows + selected;
    }

    int tableInts() {
        return packed.length - tablesAt();
    }

    /**
     * @param vocab token ids must be below it (the embedding's rows); 0 when the stage does not embed
     * @param numBlocks the KV cache's blocks, which every block id a row can reach must be below
     */
    static StepIndex of(BatchRows b, int[] logitRows, int blockSize, int numBlocks, int vocab) {
        int m = b.rows(), s = logitRows.length;
        Map<int[], Integer> tableStart = new IdentityHashMap<>();
        int tableInts = 0;
        for (int r = 0; r < m; r++) {
            int[] table = b.blockTables()[r];
            if (!tableStart.containsKey(table)) {
                tableStart.put(table, tableInts);
                tableInts += table.length;
            }
        }
        int[] p = new int[4 * m + s + tableInts];
        StepIndex index = new StepIndex(m, s, p);
        for (int r = 0; r < m; r++) {
            int pos = b.positions()[r], token = b.tokens()[r];
            int[] table = b.blockTables()[r];
            if (pos < 0 || pos / blockSize >= table.length)
                throw new IllegalArgumentException("row " + r + ": position " + pos + " is outside its block table of " + table.length + " blocks");
            for (int i = 0; i <= pos / blockSize; i++)
                if (table[i] < 0 || table[i] >= numBlocks)
                    throw new IllegalArgumentException("row " + r + ": block " + table[i] + " is not one of the KV cache's " + numBlocks);
            if (vocab > 0 && (token < 0 || token >= vocab))
                throw new IllegalArgumentException("token id " + token + " out of range (vocab_size " + vocab + ")");
            p[index.positionsAt() + r] = pos;
            p[index.slotsAt() + r] = table[pos / blockSize] * blockSize + pos % blockSize;
            p[index.tableOffsetsAt() + r] = tableStart.get(table);
            p[index.tokensAt() + r] = token;
        }
        for (int i = 0; i < s; i++) {
            if (logitRows[i] < 0 || logitRows[i] >= m) throw new IllegalArgumentException("logit row " + logitRows[i] + " of a step of " + m + " rows");
            p[index.selectedAt() + i] = logitRows[i];
        }
        tableStart.forEach((table, start) -> System.arraycopy(table, 0, p, index.tablesAt() + start, table.length));
        return index;
    }
}
