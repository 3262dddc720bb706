package dev.quantflow.engine.llama;

import dev.quantflow.engine.kv.KvCache;

/** A stage on the CPU: a LlamaStage's layers and the KvCache of those layers, in the Java heap. */
public record CpuStage(LlamaStage layers, KvCache cache) implements StageCompute {
    public CpuStage {
        if (cache.numLayers() < layers.lastLayer() - layers.firstLayer())
            throw new IllegalArgumentException("a KV cache of " + cache.numLayers() + " layers for a stage of " + (layers.lastLayer() - layers.firstLayer()));
    }

    @Override
    public int firstLayer() {
        return layers.firstLayer();
    }

    @Override
    public int lastLayer() {
        return layers.lastLayer();
    }

    @Override
    public boolean hasEmbedding() {
        return layers.hasEmbedding();
    }

    @Override
    public boolean hasHead() {
        return layers.hasHead();
    }

    @Override
    public float[] forward(float[] hidden, BatchRows rows, int[] logitRows) {
        return layers.forward(hidden, rows, logitRows, cache);
    }

    @Override
    public long weightBytes() {
        return layers.weightBytes();
    }

    @Override
    public long kvCacheBytes() {
        return cache.bytes();
    }

    /** Nothing to free: weights are mapped by the caller's store, the cache is on the heap. */
    @Override
    public void close() {}
}
