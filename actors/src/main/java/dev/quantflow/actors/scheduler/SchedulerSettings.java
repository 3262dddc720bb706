package dev.quantflow.actors.scheduler;

import dev.quantflow.engine.llama.LayerRange;
import java.util.List;

/**
 * The scheduler's budgets. positionLimit: positions a sequence may use, the smaller of the
 * model's context and the KV cache's capacity (kvBlocks * kvBlockSize). prefixCacheNamespace: what
 * besides the tokens decides a block's KV values (model, weight scheme, KV format, block size), the
 * root of the block-hash chain. hiddenSize, activationBytes (per value: 4 fp32, 2 bf16) and vocabSize
 * size the bytes each hop carries (activations between stages, logits to the sampler), for metrics.
 */
public record SchedulerSettings(List<LayerRange> stages, int maxBatchTokens, int maxSequences, int maxWaiting,
                                int kvBlocks, int kvBlockSize, int contextLength, boolean prefixCaching, String prefixCacheNamespace,
                                int hiddenSize, int activationBytes, int vocabSize) {
    public SchedulerSettings {
        stages = List.copyOf(stages);
    }

    public SchedulerSettings(List<LayerRange> stages, int maxBatchTokens, int maxSequences, int maxWaiting, int kvBlocks, int kvBlockSize, int contextLength) {
        this(stages, maxBatchTokens, maxSequences, maxWaiting, kvBlocks, kvBlockSize, contextLength, false, "", 0, Float.BYTES, 0);
    }

    public int positionLimit() {
        return (int) Math.min(contextLength, (long) kvBlocks * kvBlockSize);
    }
}
