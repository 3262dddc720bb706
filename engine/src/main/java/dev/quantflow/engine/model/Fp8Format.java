package dev.quantflow.engine.model;

/**
 * The two OCP 8-bit float formats (OFP8, as safetensors' F8_E4M3 / F8_E5M2 and Hopper's FP8):
 * e4m3fn (bias 7, max 448, no infinities, NaN = S.1111.111) and e5m2 (bias 15, max 57344, IEEE-like
 * inf/NaN). Encoding rounds to nearest even and saturates to the largest finite value (the
 * "satfinite" conversion quantizers use, so an outlier clips instead of becoming inf); NaN stays NaN.
 */
public enum Fp8Format {
    E4M3(4, 3, 448f, (byte) 0x7F),
    E5M2(5, 2, 57344f, (byte) 0x7E);

    public final int expBits, manBits, bias;
    /** Largest finite magnitude. */
    public final float max;
    private final byte nan;
    private final int maxCode;
    private final float[] table = new float[256];

    Fp8Format(int expBits, int manBits, float max, byte nan) {
        this.expBits = expBits;
        this.manBits = manBits;
        this.bias = (1 << (expBits - 1)) - 1;
        this.max = max;
        this.nan = nan;
        for (int c = 0; c < 256; c++) table[c] = decodeBits(c);
        int m = 0;
        while (table[m + 1] == table[m + 1] && table[m + 1] <= max) m++;   // codes grow with magnitude
        this.maxCode = m;
    }

    /** safetensors dtype of this format. */
    public DType dtype() {
        return this == E4M3 ? DType.F8_E4M3 : DType.F8_E5M2;
    }

    public static Fp8Format of(DType d) {
        return switch (d) {
            case F8_E4M3 -> E4M3;
            case F8_E5M2 -> E5M2;
            default -> throw new IllegalArgumentException(d + " is not an FP8 dtype");
        };
    }

    public float decode(byte code) {
        return table[code & 0xFF];
    }

    /** The 256-entry code -> float table (shared, do not modify). */
    public float[] table() {
        return table;
    }

    /** Round to nearest even, saturating to +-max; NaN -> NaN. */
    public byte encode(float f) {
        if (Float.isNaN(f)) return nan;
        int sign = (Float.floatToRawIntBits(f) >>> 24) & 0x80;
        float a = Math.abs(f);
        if (a >= max) return (byte) (sign | maxCode);
        int minNormalExp = 1 - bias;
        int code;
        if (a < Math.scalb(1f, minNormalExp)) {
            // subnormal: multiples of 2^(minNormalExp - manBits); rint is round-half-even, and a result of 2^manBits is the smallest normal's code
            code = (int) Math.rint(Math.scalb(a, manBits - minNormalExp));
        } else {
            int e = Math.getExponent(a);
            int q = (int) Math.rint(Math.scalb(a, manBits - e));   // in [2^m, 2^(m+1)]
            if (q == 1 << (manBits + 1)) {
                e++;
                q >>= 1;
            }
            code = ((e + bias) << manBits) | (q - (1 << manBits));
            if (code > maxCode) code = maxCode;
        }
        return (byte) (sign | code);
    }

    private float decodeBits(int c) {
        int sign = c >>> 7, e = (c >>> manBits) & ((1 << expBits) - 1), m = c & ((1 << manBits) - 1);
        float s = sign == 1 ? -1f : 1f;
        // by expBits: the enum constants are not assigned yet while the table is built
        if (expBits == 4 && (c & 0x7F) == 0x7F) return Float.NaN;
        if (expBits == 5 && e == 31) return m == 0 ? s * Float.POSITIVE_INFINITY : Float.NaN;
        if (e == 0) return s * Math.scalb((float) m, 1 - bias - manBits);
        return s * Math.scalb((float) ((1 << manBits) | m), e - bias - manBits);
    }
}
