package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.BiasedLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.model.WeightStore;
import java.lang.foreign.MemorySegment;

/** The Linear of a GGUF weight tensor in its stored type, computing on its bytes as they are. */
public final class GgufLinears {
    private GgufLinears() {}

    /**
     * The linears of a GGUF file's weights in their stored types (Qwen2's q/k/v bias added after),
     * from store's tensors. A weight that its Linear packs a copy of (every type but those that
     * BlockLinear reads in place) is released from the store (WeightStore.release: a q/k copy
     * in Hugging Face row order is freed).
     */
    public static LinearFactory factory(WeightStore store) {
        return (name, weight, bias) -> {
            Linear l;
            try {
                l = create(GgmlType.valueOf(weight.dtype().name()), weight.data(), weight.rows(), weight.cols());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
            }
            if (!(l instanceof BlockLinear)) store.release(weight.name());
            return bias == null ? l : new BiasedLinear(l, bias);
        };
    }

    /** blocks: the tensor's raw little-endian bytes, out rows of in / blockSize blocks each. */
    public static Linear create(GgmlType type, MemorySegment blocks, int out, int in) {
        return switch (type) {
            case F32 -> new F32Linear(blocks, out, in);
            case F16 -> new F16Linear(blocks, out, in);
            case BF16 -> new BF16Linear(blocks, out, in);
            case Q8_0 -> new Q8_0Linear(blocks, out, in);
            case Q4_0 -> new Q4_0Linear(blocks, out, in);
            case Q4_1 -> new Q4_1Linear(blocks, out, in);
            case Q5_0 -> new Q5_0Linear(blocks, out, in);
            case Q5_1 -> new Q5_1Linear(blocks, out, in);
            case Q2_K -> new Q2_KLinear(blocks, out, in);
            case Q3_K -> new Q3_KLinear(blocks, out, in);
            case Q4_K -> new Q4_KLinear(blocks, out, in);
            case Q5_K -> new Q5_KLinear(blocks, out, in);
            case Q6_K -> new Q6_KLinear(blocks, out, in);
            default -> throw new IllegalArgumentException("GGUF type " + type + " is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
        };
    }
}
