package dev.quantflow.engine.gguf.block;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.LongVector;

/** The fifth bits of Q5_0/Q5_1 (qh, one bit per element) as 16 byte lanes of 0 or 0x10, by ggml's table_b2b trick. */
final class FifthBits {
    private static final long[] SPREAD = new long[256];   // byte k of SPREAD[i] = bit k of i, shifted to 0x10

    static {
        for (int i = 0; i < 256; i++) {
            long v = 0;
            for (int k = 0; k < 8; k++) if ((i >> k & 1) != 0) v |= 0x10L << (8 * k);
            SPREAD[i] = v;
        }
    }

    private FifthBits() {}

    /** Lanes j = 0..15 hold bit (from + j) of qh as 0x10 or 0 (from = 0 or 16). */
    static ByteVector of(int qh, int from) {
        int bits = qh >>> from;
        return LongVector.zero(LongVector.SPECIES_128).withLane(0, SPREAD[bits & 0xFF]).withLane(1, SPREAD[(bits >>> 8) & 0xFF]).reinterpretAsBytes();
    }
}
