package dev.quantflow.actors.protocol;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;

/**
 * A step's hidden state between two pipeline stages, in the precision it crosses the hop in: fp32
 * as computed (4 bytes a value, the default: outputs equal the single-JVM server's), or bf16 (2
 * bytes a value, round to nearest even), which halves the bytes per hop. The sender rounds, so a
 * stage gets the same values whether its upstream runs in its JVM or on another node. On the wire
 * (FloatArrayBytes) it is one byte string: a format byte, then the values little-endian.
 */
public final class Activations {
    public static final Activations NONE = fp32(new float[0]);

    /** How a hop carries activations: quantflow.engine.wire-activations. */
    public enum Format {
        FP32(Float.BYTES), BF16(Short.BYTES);

        public final int bytesPerValue;

        Format(int bytesPerValue) {
            this.bytesPerValue = bytesPerValue;
        }

        public static Format parse(String s) {
            return switch (s.strip().toLowerCase(Locale.ROOT)) {
                case "fp32", "f32" -> FP32;
                case "bf16" -> BF16;
                default -> throw new IllegalArgumentException("wire activations '" + s + "': expected fp32 or bf16");
            };
        }
    }

    private final float[] fp32;   // null when bf16
    private final short[] bf16;   // null when fp32

    private Activations(float[] fp32, short[] bf16) {
        this.fp32 = fp32;
        this.bf16 = bf16;
    }

    public static Activations fp32(float[] values) {
        return new Activations(values, null);
    }

    /** values rounded to bf16 (round to nearest, ties to even; NaN stays NaN). */
    public static Activations bf16(float[] values) {
        short[] b = new short[values.length];
        for (int i = 0; i < values.length; i++) b[i] = toBf16(values[i]);
        return new Activations(null, b);
    }

    public static Activations of(float[] values, Format format) {
        return format == Format.BF16 ? bf16(values) : fp32(values);
    }

    public Format format() {
        return bf16 != null ? Format.BF16 : Format.FP32;
    }

    public int length() {
        return bf16 != null ? bf16.length : fp32.length;
    }

    /** The values as the stage computes with them (fp32: the array itself, not a copy). */
    public float[] toFloats() {
        if (fp32 != null) return fp32;
        float[] v = new float[bf16.length];
        for (int i = 0; i < v.length; i++) v[i] = fromBf16(bf16[i]);
        return v;
    }

    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x0040);   // keep it a (quiet) NaN whatever the dropped bits were
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }

    static float fromBf16(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    byte[] encode() {
        Format f = format();
        ByteBuffer b = ByteBuffer.allocate(1 + length() * f.bytesPerValue).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) f.ordinal());
        if (fp32 != null) b.asFloatBuffer().put(fp32);
        else b.asShortBuffer().put(bf16);
        return b.array();
    }

    static Activations decode(byte[] bytes) {
        if (bytes.length == 0 || bytes[0] < 0 || bytes[0] >= Format.values().length)
            throw new IllegalArgumentException("activations: no format byte (" + bytes.length + " bytes)");
        Format f = Format.values()[bytes[0]];
        if ((bytes.length - 1) % f.bytesPerValue != 0) throw new IllegalArgumentException("activations in " + f + " of " + (bytes.length - 1) + " bytes");
        ByteBuffer b = ByteBuffer.wrap(bytes, 1, bytes.length - 1).slice().order(ByteOrder.LITTLE_ENDIAN);
        int n = (bytes.length - 1) / f.bytesPerValue;
        if (f == Format.FP32) {
            float[] v = new float[n];
            b.asFloatBuffer().get(v);
            return fp32(v);
        }
        short[] v = new short[n];
        b.asShortBuffer().get(v);
        return new Activations(null, v);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Activations a && Arrays.equals(fp32, a.fp32) && Arrays.equals(bf16, a.bf16);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(fp32) + Arrays.hashCode(bf16);
    }

    @Override
    public String toString() {
        return "Activations[" + format() + " x " + length() + "]";
    }
}
