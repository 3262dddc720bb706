package dev.quantflow.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Dequantizes ggml tensor bytes to floats, for the storage types the engine reads directly. */
public final class TensorDecoder {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final int Q8_0_BLOCK = 32;
    static final int Q8_0_BYTES = 2 + Q8_0_BLOCK; // f16 scale, then 32 signed bytes

    private TensorDecoder() {}

    public static float[] decode(GgmlType type, MemorySegment data, int elements) {
        float[] out = new float[elements];
        switch (type) {
            case F32 -> {
                for (int i = 0; i < elements; i++) out[i] = data.get(FLOAT, 4L * i);
            }
            case F16 -> {
                for (int i = 0; i < elements; i++) out[i] = Float.float16ToFloat(data.get(SHORT, 2L * i));
            }
            case BF16 -> {
                for (int i = 0; i < elements; i++) out[i] = Float.intBitsToFloat(data.get(SHORT, 2L * i) << 16);
            }
            case Q8_0 -> {
                // y = d * q: one f16 scale d per block of 32 int8 quants
                for (int block = 0; block < elements / Q8_0_BLOCK; block++) {
                    long base = (long) block * Q8_0_BYTES;
                    float scale = Float.float16ToFloat(data.get(SHORT, base));
                    for (int j = 0; j < Q8_0_BLOCK; j++) {
                        out[block * Q8_0_BLOCK + j] = scale * data.get(ValueLayout.JAVA_BYTE, base + 2 + j);
                    }
                }
            }
            default -> throw new UnsupportedOperationException("decoding " + type + " to float is not supported (F32, F16, BF16, Q8_0 are)");
        }
        return out;
    }
}
