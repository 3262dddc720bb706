package dev.quantflow.engine.gguf;

import dev.quantflow.engine.gguf.block.Q2_KLinear;
import dev.quantflow.engine.gguf.block.Q3_KLinear;
import dev.quantflow.engine.gguf.block.Q4_KLinear;
import dev.quantflow.engine.gguf.block.Q5_KLinear;
import dev.quantflow.engine.gguf.block.Q6_KLinear;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Dequantizes ggml tensor bytes to floats, as ggml's dequantize_row_* do: whole tensors (small
 * ones, tests) and single rows (the embedding row of a looked-up token of a quantized token_embd).
 */
public final class TensorDecoder {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TensorDecoder() {}

    public static float[] decode(GgmlType type, MemorySegment data, int elements) {
        float[] out = new float[elements];
        decode(type, data, 0, out, 0, elements);
        return out;
    }

    /** Elements [first, first + n) into dst[off..]; for a block type first and n are whole blocks. */
    public static void decode(GgmlType type, MemorySegment data, long first, float[] dst, int off, int n) {
        if (type.blockSize > 1 && (first % type.blockSize != 0 || n % type.blockSize != 0))
            throw new IllegalArgumentException(type + ": decode whole blocks of " + type.blockSize + ", not [" + first + ", +" + n + ")");
        switch (type) {
            case F32 -> MemorySegment.copy(data, FLOAT, 4 * first, dst, off, n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst[off + i] = Float.float16ToFloat(data.get(SHORT, 2 * (first + i)));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) dst[off + i] = Float.intBitsToFloat(data.get(SHORT, 2 * (first + i)) << 16);
            }
            case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 -> {
                long b0 = first / 32;
                for (int b = 0; b < n / 32; b++) block(type, data, (b0 + b) * type.bytesPerBlock, dst, off + 32 * b);
            }
            case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> {
                // super-blocks of 256, decoded by the block layout's own class (documented there)
                long b0 = first / 256;
                for (int b = 0; b < n / 256; b++) superBlock(type, data, (b0 + b) * type.bytesPerBlock, dst, off + 256 * b);
            }
            default -> throw new UnsupportedOperationException("GGUF type " + type + " is not supported");
        }
    }

    private static void superBlock(GgmlType type, MemorySegment data, long at, float[] dst, int to) {
        switch (type) {
            case Q2_K -> Q2_KLinear.dequantize(data, at, dst, to);
            case Q3_K -> Q3_KLinear.dequantize(data, at, dst, to);
            case Q4_K -> Q4_KLinear.dequantize(data, at, dst, to);
            case Q5_K -> Q5_KLinear.dequantize(data, at, dst, to);
            case Q6_K -> Q6_KLinear.dequantize(data, at, dst, to);
            default -> throw new IllegalStateException(type.toString());
        }
    }

    /** One block of 32 (layouts: see the Linear classes of dev.quantflow.engine.gguf.block). */
    private static void block(GgmlType type, MemorySegment data, long base, float[] dst, int off) {
        float d = Float.float16ToFloat(data.get(SHORT, base));
        switch (type) {
            case Q8_0 -> {   // d, qs[32]: y = d * q
                for (int j = 0; j < 32; j++) dst[off + j] = d * data.get(ValueLayout.JAVA_BYTE, base + 2 + j);
            }
            case Q4_0 -> {   // d, qs[16]: low nibbles are elements 0..15, high nibbles 16..31; y = d * (q - 8)
                for (int j = 0; j < 16; j++) {
                    int q = data.get(ValueLayout.JAVA_BYTE, base + 2 + j) & 0xFF;
                    dst[off + j] = d * ((q & 0xF) - 8);
                    dst[off + j + 16] = d * ((q >> 4) - 8);
                }
            }
            case Q4_1 -> {   // d, m, qs[16]: y = d * q + m
                float m = Float.float16ToFloat(data.get(SHORT, base + 2));
                for (int j = 0; j < 16; j++) {
                    int q = data.get(ValueLayout.JAVA_BYTE, base + 4 + j) & 0xFF;
                    dst[off + j] = d * (q & 0xF) + m;
                    dst[off + j + 16] = d * (q >> 4) + m;
                }
            }
            case Q5_0 -> {   // d, qh[4] (bit j = 5th bit of element j), qs[16]: y = d * (q - 16)
                int qh = data.get(INT, base + 2);
                for (int j = 0; j < 16; j++) {
                    int q = data.get(ValueLayout.JAVA_BYTE, base + 6 + j) & 0xFF;
                    dst[off + j] = d * (((q & 0xF) | ((qh >>> j) << 4 & 0x10)) - 16);
                    dst[off + j + 16] = d * (((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16);
                }
            }
            case Q5_1 -> {   // d, m, qh[4], qs[16]: y = d * q + m
                float m = Float.float16ToFloat(data.get(SHORT, base + 2));
                int qh = data.get(INT, base + 4);
                for (int j = 0; j < 16; j++) {
                    int q = data.get(ValueLayout.JAVA_BYTE, base + 8 + j) & 0xFF;
                    dst[off + j] = d * ((q & 0xF) | ((qh >>> j) << 4 & 0x10)) + m;
                    dst[off + j + 16] = d * ((q >> 4) | ((qh >>> (j + 12)) & 0x10)) + m;
                }
            }
            default -> throw new IllegalStateException(type.toString());
        }
    }
}
