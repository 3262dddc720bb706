package dev.quantflow.gpu;

import dev.quantflow.engine.quant.Int4Packing;
import dev.quantflow.engine.quant.IntRange;
import dev.quantflow.engine.quant.QuantizedMatrix;

/**
 * The weight arrays the kernels read, taken from the engine's packed format (QuantizedMatrix:
 * codes, a scale and zero point per row and group) as they are: codes are copied, int4 codes are
 * packed by the engine's Int4Packing (the quantflow checkpoint's own layout), zero points widen to
 * float. Nothing is quantized here: a card runs the codes the CPU runs.
 */
public final class WeightPacking {
    private WeightPacking() {}

    /** w[n, k] ~ q[n, k] * scales[n]. */
    public record Int8Channel(byte[] q, float[] scales, int out, int in) {
        public long bytes() {
            return q.length + 4L * scales.length;
        }
    }

    /** w[n, k] ~ q[n, k] * scales[n, k / group]. */
    public record Int8Groups(byte[] q, float[] scales, int out, int in, int group) {
        public long bytes() {
            return q.length + 4L * scales.length;
        }
    }

    /** w[n, k] ~ (code(n, k) - zeros[n, k / group]) * scales[n, k / group], code in 0..15, two per byte low nibble first. */
    public record Int4Groups(byte[] packed, float[] scales, float[] zeros, int out, int in, int group) {
        public long bytes() {
            return packed.length + 4L * scales.length + 4L * zeros.length;
        }

        public int code(int n, int k) {
            int b = packed[n * (in / 2) + k / 2] & 0xff;
            return (k & 1) == 0 ? b & 15 : b >>> 4;
        }

        public float dequant(int n, int k) {
            int g = n * (in / group) + k / group;
            return (code(n, k) - zeros[g]) * scales[g];
        }
    }

    /** Symmetric int8 with one scale per output channel (LLM.int8, W8A8 per channel). */
    public static Int8Channel int8Channel(QuantizedMatrix m) {
        require(m.range().equals(IntRange.INT8_SYM) && m.layout().perRowOnly(), "int8 per channel needs symmetric int8 codes with one scale per output channel");
        return new Int8Channel(m.q().clone(), m.scales().clone(), m.rows(), m.cols());
    }

    /** Symmetric int8 per channel and group of columns (W8A8 group-wise); the group must divide the row. */
    public static Int8Groups int8Groups(QuantizedMatrix m) {
        require(m.range().equals(IntRange.INT8_SYM), "int8 groups need symmetric int8 codes");
        int group = m.layout().groupSize();
        require(m.cols() % group == 0, "group " + group + " must divide in=" + m.cols() + " on a card (the CPU takes a ragged last group)");
        return new Int8Groups(m.q().clone(), m.scales().clone(), m.rows(), m.cols(), group);
    }

    /** 4-bit codes per channel and group (W4A16), unsigned; the group must be even and divide the row. */
    public static Int4Groups int4Groups(QuantizedMatrix m) {
        require(m.range().bits() == 4, "int4 groups need 4-bit codes");
        QuantizedMatrix u = Int4Packing.toUnsigned(m);
        int group = u.layout().groupSize();
        require(group % 2 == 0 && u.cols() % group == 0, "group " + group + " must be even and divide in=" + u.cols() + " on a card");
        float[] zeros = new float[u.zeros().length];
        for (int i = 0; i < zeros.length; i++) zeros[i] = u.zeros()[i];
        return new Int4Groups(Int4Packing.pack(u.q(), u.rows(), u.cols()), u.scales().clone(), zeros, u.rows(), u.cols(), group);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
