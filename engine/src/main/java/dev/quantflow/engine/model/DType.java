package dev.quantflow.engine.model;

/** Element types of stored tensors, named as safetensors names them. */
public enum DType {
    F32(4), F16(2), BF16(2), F64(8), I8(1), U8(1), I16(2), I32(4), I64(8), BOOL(1), F8_E4M3(1), F8_E5M2(1);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
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
