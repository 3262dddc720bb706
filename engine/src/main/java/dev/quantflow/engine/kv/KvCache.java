package dev.quantflow.engine.kv;

/**
 * The paged key/value cache of a range of layers. Storage is a pool of fixed-size blocks; a
 * sequence's block table maps its position t to block table[t / blockSize], slot t % blockSize.
 * Each storage format (f32, f16, int8) is its own class and brings its own attention kernel.
 */
public interface KvCache {
    /** Tokens per block on the single-sequence paths (generate, eval, calibration); the server's is quantflow.engine.kv-block-size. */
    int BLOCK_SIZE = 16;

    int numLayers();

    int numBlocks();

    int blockSize();

    /** Stores the key and value (kvDim each) of the token at position pos. */
    void store(int layer, int[] blockTable, int pos, float[] k, int ko, float[] v, int vo);

    /**
     * Grouped-query attention of one token: q holds numHeads*headDim values at qo; attends to
     * positions [from, pos] of the sequence (from > 0: a sliding window); writes numHeads*headDim
     * values at out[oo]. scores is scratch of at least pos-from+1 floats.
     */
    void attend(int layer, int[] blockTable, int from, int pos, float[] q, int qo, float[] out, int oo, float[] scores);

    /** Attention over every position [0, pos]. */
    default void attend(int layer, int[] blockTable, int pos, float[] q, int qo, float[] out, int oo, float[] scores) {
        attend(layer, blockTable, 0, pos, q, qo, out, oo, scores);
    }

    /** Resident bytes of the cache storage. */
    long bytes();
}
