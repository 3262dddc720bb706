package dev.quantflow.actors.engine;

import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;

/**
 * Builds the KV cache of one stage's layers in its storage format (f32, int8). A stage on a device
 * keeps its own cache in the device's memory; it is told the format and refuses one it lacks.
 */
public interface KvCacheFactory {
    KvCache create(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim);

    KvFormat format();

    static KvCacheFactory of(KvFormat format) {
        return new KvCacheFactory() {
            @Override
            public KvCache create(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim) {
                return format.create(layers, blocks, blockSize, numHeads, numKvHeads, headDim);
            }

            @Override
            public KvFormat format() {
                return format;
            }
        };
    }

    KvCacheFactory F32 = of(KvFormat.F32);
}
