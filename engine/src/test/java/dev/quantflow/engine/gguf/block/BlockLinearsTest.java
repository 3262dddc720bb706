package dev.quantflow.engine.gguf.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.TensorDecoder;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every GGUF block Linear against a float64 reference written here from ggml's block structs
 * (not from the classes under test), on random blocks: 1, 3, 17 and 41 weight rows and 1, 3 and 17 x
 * rows (decode and the batched path). The integer block types see activations quantized as
 * ggml's quantize_row_q8_0 does (blocks of 32, d = f16(max|x| / 127), q = round-half-even(x * 127 / max|x|)).
 */
class BlockLinearsTest {
    enum Type { F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 }

    @ParameterizedTest
    @EnumSource(Type.class)
    void matchesFloat64Reference(Type t) {
        GgmlType type = GgmlType.valueOf(t.name());
        Random rnd = new Random(type.code * 31L + 7);
        for (int out : new int[] {1, 3, 17, 41}) {   // 41: more than one panel of the batched path, the last one partial
            for (int in : new int[] {32, 96, 256}) {
                byte[] bytes = randomBlocks(type, out, in, rnd);
                double[] w = reference(type, bytes, out, in);
                Linear l = GgufLinears.create(type, native_(bytes), out, in);
                assertThat(l.weightBytes()).isEqualTo(bytes.length);
                for (int rows : new int[] {1, 3, 17}) {
                    float[] x = new float[rows * in];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    float[] y = new float[rows * out];
                    l.forward(x, rows, y);
                    double[] xa = type.blockSize > 1 ? q8(x) : toDouble(x);
                    for (int r = 0; r < rows; r++) {
                        for (int o = 0; o < out; o++) {
                            double exact = 0, scale = 0;
                            for (int k = 0; k < in; k++) {
                                exact += w[o * in + k] * xa[r * in + k];
                                scale += Math.abs(w[o * in + k] * xa[r * in + k]);
                            }
                            assertThat((double) y[r * out + o]).as("%s %dx%d, %d rows, y[%d][%d]", type, out, in, rows, r, o)
                                    .isCloseTo(exact, org.assertj.core.data.Offset.offset(1e-5 * scale + 1e-30));
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Type.class)
    void rowDecodeMatchesFloat64Reference(Type t) {
        GgmlType type = GgmlType.valueOf(t.name());
        Random rnd = new Random(type.code);
        int out = 5, in = 128;
        byte[] bytes = randomBlocks(type, out, in, rnd);
        double[] w = reference(type, bytes, out, in);
        float[] row = new float[in];
        TensorDecoder.decode(type, native_(bytes), 3L * in, row, 0, in);   // the embedding lookup of one row
        for (int k = 0; k < in; k++) assertThat((double) row[k]).isCloseTo(w[3 * in + k], org.assertj.core.data.Offset.offset(1e-6 * Math.abs(w[3 * in + k])));
    }

    @ParameterizedTest
    @EnumSource(Type.class)
    void wrongByteCountIsRefused(Type t) {
        GgmlType type = GgmlType.valueOf(t.name());
        assertThatThrownBy(() -> GgufLinears.create(type, Arena.ofAuto().allocate(type.byteSize(64) + 1), 1, 64))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bytes for 1x64");
    }

    /** ggml's q8_0 activations, as values d * q in float64. */
    static double[] q8(float[] x) {
        double[] out = new double[x.length];
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
            if (amax == 0) continue;
            double d = half(Float.floatToFloat16(amax / 127f));
            float id = 127f / amax;
            for (int j = 0; j < 32; j++) out[32 * b + j] = d * Math.rint(x[32 * b + j] * id);
        }
        return out;
    }

    static double[] toDouble(float[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i];
        return out;
    }

    private static MemorySegment native_(byte[] bytes) {
        MemorySegment s = Arena.ofAuto().allocate(bytes.length, 64);
        MemorySegment.copy(bytes, 0, s, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return s;
    }

    /** Random tensor bytes: finite scales, any quants (every bit pattern of qs and qh). */
    static byte[] randomBlocks(GgmlType type, int out, int in, Random rnd) {
        ByteBuffer b = ByteBuffer.allocate((int) type.byteSize((long) out * in)).order(ByteOrder.LITTLE_ENDIAN);
        long blocks = (long) out * in / type.blockSize;
        for (long i = 0; i < blocks; i++) {
            switch (type) {
                case F32 -> b.putFloat((float) rnd.nextGaussian());
                case F16 -> b.putShort(Float.floatToFloat16((float) (rnd.nextGaussian() * (i % 3 == 0 ? 1e-6 : 1))));   // a third subnormal
                case BF16 -> b.putShort((short) (Float.floatToRawIntBits((float) rnd.nextGaussian()) >>> 16));
                default -> {
                    b.putShort(Float.floatToFloat16((float) (rnd.nextGaussian() * 0.05)));                       // d
                    if (type == GgmlType.Q4_1 || type == GgmlType.Q5_1) b.putShort(Float.floatToFloat16((float) (rnd.nextGaussian() * 0.1)));   // m
                    byte[] rest = new byte[type.bytesPerBlock - (type == GgmlType.Q4_1 || type == GgmlType.Q5_1 ? 4 : 2)];
                    rnd.nextBytes(rest);
                    b.put(rest);
                }
            }
        }
        return b.array();
    }

    /** The weights in float64, from the ggml block layouts. */
    static double[] reference(GgmlType type, byte[] bytes, int out, int in) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        double[] w = new double[out * in];
        switch (type) {
            case F32 -> { for (int i = 0; i < w.length; i++) w[i] = b.getFloat(4 * i); }
            case F16 -> { for (int i = 0; i < w.length; i++) w[i] = half(b.getShort(2 * i)); }
            case BF16 -> { for (int i = 0; i < w.length; i++) w[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xFFFF) << 16); }
            default -> {
                for (int blk = 0; blk < w.length / 32; blk++) {
                    int base = blk * type.bytesPerBlock, o = blk * 32;
                    double d = half(b.getShort(base));
                    switch (type) {
                        case Q8_0 -> { for (int j = 0; j < 32; j++) w[o + j] = d * b.get(base + 2 + j); }
                        case Q4_0 -> {
                            for (int j = 0; j < 16; j++) {
                                int q = b.get(base + 2 + j) & 0xFF;
                                w[o + j] = d * ((q & 15) - 8);
                                w[o + 16 + j] = d * ((q >> 4) - 8);
                            }
                        }
                        case Q4_1 -> {
                            double m = half(b.getShort(base + 2));
                            for (int j = 0; j < 16; j++) {
                                int q = b.get(base + 4 + j) & 0xFF;
                                w[o + j] = d * (q & 15) + m;
                                w[o + 16 + j] = d * (q >> 4) + m;
                            }
                        }
                        case Q5_0, Q5_1 -> {
                            boolean q51 = type == GgmlType.Q5_1;
                            double m = q51 ? half(b.getShort(base + 2)) : 0;
                            long qh = b.getInt(base + (q51 ? 4 : 2)) & 0xFFFFFFFFL;
                            int qs = base + (q51 ? 8 : 6);
                            for (int j = 0; j < 32; j++) {
                                int nibble = j < 16 ? b.get(qs + j) & 15 : (b.get(qs + j - 16) & 0xFF) >> 4;
                                int q = nibble | (int) ((qh >> j) & 1) << 4;
                                w[o + j] = q51 ? d * q + m : d * (q - 16);
                            }
                        }
                        default -> throw new IllegalStateException(type.toString());
                    }
                }
            }
        }
        return w;
    }

    /** IEEE binary16 to double, bit by bit (not Float.float16ToFloat). */
    static double half(short h) {
        int s = (h >> 15) & 1, e = (h >> 10) & 31, f = h & 1023;
        double v = e == 0 ? f * Math.pow(2, -24) : (1 + f / 1024.0) * Math.pow(2, e - 15);
        return s == 1 ? -v : v;
    }
}
