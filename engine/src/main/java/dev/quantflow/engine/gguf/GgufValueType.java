package dev.quantflow.engine.gguf;

/** Metadata value types of the GGUF format, numbered as in the file. */
public enum GgufValueType {
    UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64;

    static GgufValueType fromCode(int code) {
        GgufValueType[] all = values();
        return code >= 0 && code < all.length ? all[code] : null;
    }
}
