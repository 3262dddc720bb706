package dev.quantflow.engine.model;

/**
 * Element types of stored tensors: the scalar types as safetensors names them, and the
 * block-quantized types of GGUF files as ggml names them (blockSize elements stored in
 * blockBytes bytes; a row of a matrix is a whole number of blocks).
 */
public enum DType {
    F32(4), F16(2), BF16(2), F64(8), I8(1), U8(1), I16(2), I32(4), I64(8), BOOL(1), F8_E4M3(1), F8_E5M2(1),
    Q4_0(32, 18), Q4_1(32, 20), Q5_0(32, 22), Q5_1(32, 24), Q8_0(32, 34),
    Q2_K(256, 84), Q3_K(256, 110), Q4_K(256, 144), Q5_K(256, 176), Q6_K(256, 210);

    /** Bytes per element of a scalar type; 0 for a block type (see blockBytes). */
    public final int bytes;
    public final int blockSize;
    public final int blockBytes;

    DType(int bytes) {
        this.bytes = bytes;
        this.blockSize = 1;
        this.blockBytes = bytes;
    }

    DType(int blockSize, int blockBytes) {
        this.bytes = 0;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    public boolean isBlockQuantized() {
        return blockSize > 1;
    }

    /** Bytes of n elements (n a whole number of blocks for a block type). */
    public long byteSize(long n) {
        return Math.multiplyExact(n / blockSize, (long) blockBytes);
    }

    public static DType fromSafetensors(String name) {
        return switch (name) {
            case "F32" -> F32;
            case "F16" -> F16;
            case "BF16" -> BF16;
            case "F64" -> F64;
            case "I8" -> I8;
            case "U8" -> U8;
            case "I16" -> I16;
            case "I32" -> I32;
            case "I64" -> I64;
            case "BOOL" -> BOOL;
            case "F8_E4M3" -> F8_E4M3;
            case "F8_E5M2" -> F8_E5M2;
            default -> throw new IllegalArgumentException("unsupported dtype " + name);
        };
    }
}
