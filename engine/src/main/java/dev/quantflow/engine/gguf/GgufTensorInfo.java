package dev.quantflow.engine.gguf;

import java.util.Arrays;

/**
 * One tensor's directory entry. {@code dims} are in ggml order (dims[0] is the fastest-varying,
 * i.e. the row length); {@code offset} is relative to the start of the tensor data section.
 */
public record GgufTensorInfo(String name, long[] dims, GgmlType type, long offset) {
    public GgufTensorInfo {
        dims = dims.clone();
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        return n;
    }

    public long byteSize() {
        return type.byteSize(elementCount());
    }

    @Override
    public String toString() {
        return name + Arrays.toString(dims) + " " + type + " @" + offset;
    }
}
