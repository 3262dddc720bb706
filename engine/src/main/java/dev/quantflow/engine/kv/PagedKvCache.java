package dev.quantflow.engine.kv;

/**
 * The geometry every KV storage format shares: layers of a pool of blocks, a block table mapping
 * a sequence position to a token slot, and grouped-query heads. Formats add storage and kernels.
 */
abstract class PagedKvCache implements KvCache {
    protected final int layers, blocks, blockSize, numHeads, numKvHeads, headDim, kvDim;

    protected PagedKvCache(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim) {
        this.layers = layers;
        this.blocks = blocks;
        this.blockSize = blockSize;
        this.numHeads = numHeads;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.kvDim = numKvHeads * headDim;
    }

    /** Elements of one layer's key (or value) storage: blocks * blockSize * kvDim, checked to fit an array. */
    protected int elementsPerLayer() {
        long perLayer = (long) blocks * blockSize * kvDim;
        if (perLayer > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("KV cache too large per layer: " + perLayer);
        return (int) perLayer;
    }

    /** The token slot of position pos of the sequence whose block table is table. */
    protected int token(int[] table, int pos) {
        return table[pos / blockSize] * blockSize + pos % blockSize;
    }

    /** The element offset of position pos's keys (or values) in a layer's array of kvDim per token slot. */
    protected int row(int[] table, int pos) {
        return token(table, pos) * kvDim;
    }

    /** The rows of positions [from, from + n): the block-table lookup once per position, not once per head. */
    protected int[] rows(int[] table, int from, int n) {
        int[] rows = new int[n];
        for (int t = 0; t < n; t++) rows[t] = row(table, from + t);
        return rows;
    }

    /** Query heads per KV head (grouped-query attention). */
    protected int group() {
        return numHeads / numKvHeads;
    }

    protected float attentionScale() {
        return (float) (1.0 / Math.sqrt(headDim));
    }

    @Override
    public int numLayers() {
        return layers;
    }

    @Override
    public int numBlocks() {
        return blocks;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }
}
