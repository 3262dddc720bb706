package dev.quantflow.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The k-quant super-blocks (256 weights) dequantized one at a time, as ggml's dequantize_row_*_K:
 * the scalar definition of each layout documented on its Linear class in gguf.block (which decodes
 * the same bits in registers), and what TensorDecoder uses for rows and whole tensors.
 */
public final class KQuantBlocks {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private KQuantBlocks() {}

    /** Byte off of w, unsigned. */
    public static int byteAt(MemorySegment w, long off) {
        return w.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    /** The little-endian f16 at byte off of w. */
    public static float f16(MemorySegment w, long off) {
        return Float.float16ToFloat(w.get(I16, off));
    }

    /** Signed 6-bit scale of sub-block s from the 12 bytes at sc. */
    public static int q3KScale(MemorySegment w, long sc, int s) {
        int low = s < 8 ? byteAt(w, sc + s) & 15 : byteAt(w, sc + s - 8) >>> 4;
        int high = byteAt(w, sc + 8 + s % 4) >>> 2 * (s / 4) & 3;
        return (low | high << 4) - 32;
    }
    /** 6-bit scale (which = 0) or min (which = 4) of sub-block s, from the 12 bytes at sc. */
    public static int q4KScaleMin(MemorySegment w, long sc, int s, int which) {
        if (s < 4) return byteAt(w, sc + s + which) & 63;
        int low = byteAt(w, sc + s + 4), high = byteAt(w, sc + s - 4 + which) >>> 6;
        return (which == 0 ? low & 15 : low >>> 4) | high << 4;
    }
    public static int q6KScale(MemorySegment w, long off) {
        return w.get(ValueLayout.JAVA_BYTE, off);
    }
    /** One Q2_K super-block at byte at of any segment into dst[off..off+256). */
    public static void q2K(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at + 80), dmin = f16(w, at + 82);
        long sc = at, qs = at + 16;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    int s = byteAt(w, sc + 8 * n + 2 * j + l / 16);
                    int q = byteAt(w, qs + 32 * n + l) >>> 2 * j & 3;
                    dst[off + 128 * n + 32 * j + l] = d * (s & 15) * q - dmin * (s >>> 4);
                }
    }
    /** One Q3_K super-block at byte at of any segment into dst[off..off+256). */
    public static void q3K(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at + 108);
        long hm = at, qs = at + 32, sc = at + 96;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    float dl = d * q3KScale(w, sc, 8 * n + 2 * j + l / 16);
                    int q = (byteAt(w, qs + 32 * n + l) >>> 2 * j & 3) - ((byteAt(w, hm + l) >>> 4 * n + j & 1) == 1 ? 0 : 4);
                    dst[off + 128 * n + 32 * j + l] = dl * q;
                }
    }
    /** One Q4_K super-block at byte at of any segment into dst[off..off+256). */
    public static void q4K(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at), dmin = f16(w, at + 2);
        long sc = at + 4, qs = at + 16;
        for (int j = 0; j < 4; j++) {
            float d1 = d * q4KScaleMin(w, sc, 2 * j, 0), m1 = dmin * q4KScaleMin(w, sc, 2 * j, 4);
            float d2 = d * q4KScaleMin(w, sc, 2 * j + 1, 0), m2 = dmin * q4KScaleMin(w, sc, 2 * j + 1, 4);
            for (int l = 0; l < 32; l++) {
                int q = byteAt(w, qs + 32 * j + l);
                dst[off + 64 * j + l] = d1 * (q & 15) - m1;
                dst[off + 64 * j + 32 + l] = d2 * (q >>> 4) - m2;
            }
        }
    }
    /** One Q5_K super-block at byte at of any segment into dst[off..off+256). */
    public static void q5K(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at), dmin = f16(w, at + 2);
        long sc = at + 4, qh = at + 16, qs = at + 48;
        for (int j = 0; j < 4; j++) {
            float d1 = d * q4KScaleMin(w, sc, 2 * j, 0), m1 = dmin * q4KScaleMin(w, sc, 2 * j, 4);
            float d2 = d * q4KScaleMin(w, sc, 2 * j + 1, 0), m2 = dmin * q4KScaleMin(w, sc, 2 * j + 1, 4);
            for (int l = 0; l < 32; l++) {
                int q = byteAt(w, qs + 32 * j + l), h = byteAt(w, qh + l);
                dst[off + 64 * j + l] = d1 * ((q & 15) | (h >>> 2 * j & 1) << 4) - m1;
                dst[off + 64 * j + 32 + l] = d2 * ((q >>> 4) | (h >>> 2 * j + 1 & 1) << 4) - m2;
            }
        }
    }
    /** One Q6_K super-block at byte at of any segment into dst[off..off+256). */
    public static void q6K(MemorySegment w, long at, float[] dst, int off) {
        float d = f16(w, at + 208);
        for (int n = 0; n < 2; n++) {
            long ql = at + 64 * n, qh = at + 128 + 32 * n, sc = at + 192 + 8 * n;
            for (int l = 0; l < 32; l++) {
                int a = byteAt(w, ql + l), b = byteAt(w, ql + 32 + l), h = byteAt(w, qh + l);
                int is = l / 16, o = off + 128 * n + l;
                dst[o] = d * w.get(ValueLayout.JAVA_BYTE, sc + is) * ((a & 15 | (h & 3) << 4) - 32);
                dst[o + 32] = d * w.get(ValueLayout.JAVA_BYTE, sc + is + 2) * ((b & 15 | (h >>> 2 & 3) << 4) - 32);
                dst[o + 64] = d * w.get(ValueLayout.JAVA_BYTE, sc + is + 4) * ((a >>> 4 | (h >>> 4 & 3) << 4) - 32);
                dst[o + 96] = d * w.get(ValueLayout.JAVA_BYTE, sc + is + 6) * ((b >>> 4 | (h >>> 6) << 4) - 32);
            }
        }
    }}
