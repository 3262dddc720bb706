package dev.quantflow.engine.kv;

import dev.quantflow.engine.model.LlamaConfig;
import java.util.Locale;
import java.util.function.IntFunction;

/** The KV cache storage formats, by their --kv names. */
public enum KvFormat {
    F32, INT8;

    public static KvFormat parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "f32", "fp32" -> F32;
            case "int8", "i8" -> INT8;
            default -> throw new IllegalArgumentException("--kv must be f32 or int8, got '" + s + "'");
        };
    }

    /** A factory of caches over all layers of c, given a number of blocks of blockSize tokens. */
    public IntFunction<KvCache> caches(LlamaConfig c, int blockSize) {
        return switch (this) {
            case F32 -> blocks -> new F32KvCache(c.numLayers(), blocks, blockSize, c.numHeads(), c.numKvHeads(), c.headDim());
            case INT8 -> blocks -> new Int8KvCache(c.numLayers(), blocks, blockSize, c.numHeads(), c.numKvHeads(), c.headDim());
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
