package dev.quantflow.actors.engine;

import dev.quantflow.engine.kv.F32KvCache;
import dev.quantflow.engine.kv.KvCache;

/** Builds the KV cache of one stage's layers; the storage format (f32, int8) is the factory's choice. */
@FunctionalInterface
public interface KvCacheFactory {
    KvCache create(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim);

    KvCacheFactory F32 = F32KvCache::new;
}
