package dev.quantflow.engine.llama;

/**
 * What one pipeline stage computes per step, wherever it runs: layers [firstLayer, lastLayer) of
 * the model together with the KV cache of those layers. Stage 0 embeds the tokens itself; the last
 * stage ends with the final norm and lm_head.
 *
 * <p>One call per step (not embed, layers, logits apart) so that a device stage can keep the
 * hidden state on its card from the embedding to the logits: activations cross the host only where
 * they enter and leave the stage. On the CPU this is a {@link LlamaStage} with its KvCache
 * ({@link CpuStage}); a device backend offers its own through ComputeBackend.stage.
 */
public interface StageCompute extends AutoCloseable {
    int firstLayer();

    int lastLayer();

    boolean hasEmbedding();

    boolean hasHead();

    /**
     * One step over rows (prefill chunks and decode tokens of any sequences; their block tables
     * index this stage's KV cache). Stage 0 embeds rows.tokens() and ignores hidden; the others
     * continue from hidden (rows, dim), which they may overwrite. Returns the hidden state
     * (rows, dim) for the next stage, or on the last stage the logits (logitRows.length, vocab) of
     * the selected rows.
     */
    float[] forward(float[] hidden, BatchRows rows, int[] logitRows);

    /** Bytes the stage's linear layers (incl. lm_head) keep resident for their weights. */
    long weightBytes();

    /** Bytes of the stage's KV cache storage. */
    long kvCacheBytes();

    /** Frees what the stage holds outside the Java heap (device memory); the weight store stays the caller's. */
    @Override
    void close();
}
