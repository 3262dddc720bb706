package dev.quantflow.engine.kv;

import dev.quantflow.engine.model.LlamaConfig;
import java.util.Locale;
import java.util.function.IntFunction;

/** The KV cache storage formats, by their --kv names. */
public enum KvFormat {
    F32, F16, INT8;

    public static KvFormat parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "f32", "fp32" -> F32;
            case "f16", "fp16" -> F16;
            case "int8", "i8" -> INT8;
            default -> throw new IllegalArgumentException("--kv must be f32, f16 or int8, got '" + s + "'");
        };
    }

    /** A factory of caches over all layers of c, given a number of blocks of blockSize tokens. */
    public IntFunction<KvCache> caches(LlamaConfig c, int blockSize) {
        return blocks -> create(c.numLayers(), blocks, blockSize, c.numHeads(), c.numKvHeads(), c.headDim());
    }

    /** A cache of this format for layers layers (e.g. one stage's). */
    public KvCache create(int layers, int blocks, int blockSize, int numHeads, int numKvHeads, int headDim) {
        return switch (this) {
            case F32 -> new F32KvCache(layers, blocks, blockSize, numHeads, numKvHeads, headDim);
            case F16 -> new F16KvCache(layers, blocks, blockSize, numHeads, numKvHeads, headDim);
            case INT8 -> new Int8KvCache(layers, blocks, blockSize, numHeads, numKvHeads, headDim);
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
