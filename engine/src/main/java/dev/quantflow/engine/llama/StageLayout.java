package dev.quantflow.engine.llama;

import dev.quantflow.engine.kv.KvFormat;

/**
 * The shape of a stage a backend builds by itself: its layers [first, last), the storage format
 * and geometry of its paged KV cache (kvBlocks blocks of kvBlockSize tokens, which the block
 * tables of a step's rows index), and the most token rows one step brings (workspace sizing;
 * more rows still work, the workspace then grows).
 */
public record StageLayout(int first, int last, KvFormat kv, int kvBlocks, int kvBlockSize, int maxBatchRows) {
    public StageLayout {
        if (first < 0 || first >= last) throw new IllegalArgumentException("bad layer range [" + first + ", " + last + ")");
        if (kvBlocks < 1 || kvBlockSize < 1) throw new IllegalArgumentException("a KV cache needs blocks >= 1 of size >= 1, got " + kvBlocks + " x " + kvBlockSize);
        if (maxBatchRows < 1) throw new IllegalArgumentException("max batch rows must be >= 1, got " + maxBatchRows);
    }

    public int layers() {
        return last - first;
    }
}
