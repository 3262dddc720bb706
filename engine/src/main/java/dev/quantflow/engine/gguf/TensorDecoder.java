package dev.quantflow.engine.gguf;

import dev.quantflow.engine.gguf.block.Q2_KLinear;
import dev.quantflow.engine.gguf.block.Q3_KLinear;
import dev.quantflow.engine.gguf.block.Q4_KLinear;
import dev.quantflow.engine.gguf.block.Q5_KLinear;
import dev.quantflow.engine.gguf.block.Q6_KLinear;
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
        if (elements % type.blockSize != 0) throw new UnsupportedOperationException(elements + " values are not whole " + type + " blocks of " + type.blockSize);
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
            case Q4_0, Q4_1 -> {
                // block_q4_0 {half d; uint8 qs[16]}: y = d * (nibble - 8); block_q4_1 {half d, m; uint8 qs[16]}: y = d * nibble + m;
                // byte j holds weight j in its low nibble and weight j + 16 in its high nibble
                boolean withMin = type == GgmlType.Q4_1;
                for (int block = 0; block < elements / 32; block++) {
                    long base = (long) block * type.bytesPerBlock;
                    float d = Float.float16ToFloat(data.get(SHORT, base));
                    float m = withMin ? Float.float16ToFloat(data.get(SHORT, base + 2)) : 0f;
                    long qs = base + (withMin ? 4 : 2);
                    for (int j = 0; j < 16; j++) {
                        int b = data.get(ValueLayout.JAVA_BYTE, qs + j) & 0xFF;
                        out[block * 32 + j] = withMin ? d * (b & 15) + m : d * ((b & 15) - 8);
                        out[block * 32 + 16 + j] = withMin ? d * (b >>> 4) + m : d * ((b >>> 4) - 8);
                    }
                }
            }
            case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> {
                // super-blocks of 256, decoded by the block layout's own class (documented there)
                for (int block = 0; block < elements / type.blockSize; block++) {
                    long at = (long) block * type.bytesPerBlock;
                    int to = block * type.blockSize;
                    switch (type) {
                        case Q2_K -> Q2_KLinear.dequantize(data, at, out, to);
                        case Q3_K -> Q3_KLinear.dequantize(data, at, out, to);
                        case Q4_K -> Q4_KLinear.dequantize(data, at, out, to);
                        case Q5_K -> Q5_KLinear.dequantize(data, at, out, to);
                        default -> Q6_KLinear.dequantize(data, at, out, to);
                    }
                }
            }
            default -> throw new UnsupportedOperationException("decoding " + type + " to float is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q2_K..Q6_K are)");
        }
        return out;
    }
}
