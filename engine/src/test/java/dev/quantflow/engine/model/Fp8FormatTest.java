package dev.quantflow.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * FP8 encode/decode against a float64 reference written here from the OCP OFP8 definition:
 * decode by the formula, encode by searching all codes for the nearest (ties to the even code),
 * saturating beyond the largest finite value.
 */
class Fp8FormatTest {
    private static int expBits(Fp8Format f) {
        return f == Fp8Format.E4M3 ? 4 : 5;
    }

    /** The OFP8 value of a code, in double; NaN for NaN codes, +-inf for e5m2's infinities. */
    static double refDecode(Fp8Format f, int code) {
        int eb = expBits(f), mb = 7 - eb, bias = (1 << (eb - 1)) - 1;
        int e = (code >> mb) & ((1 << eb) - 1), m = code & ((1 << mb) - 1);
        double sign = (code & 0x80) != 0 ? -1 : 1;
        if (f == Fp8Format.E4M3 && e == 15 && m == 7) return Double.NaN;
        if (f == Fp8Format.E5M2 && e == 31) return m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
        if (e == 0) return sign * m / (double) (1 << mb) * Math.pow(2, 1 - bias);
        return sign * (1 + m / (double) (1 << mb)) * Math.pow(2, e - bias);
    }

    /** Nearest finite code (ties: even mantissa), saturating; NaN input -> -1 (any NaN code). */
    static int refEncode(Fp8Format f, double x) {
        if (Double.isNaN(x)) return -1;
        int sign = (Double.doubleToRawLongBits(x) < 0) ? 0x80 : 0;
        double a = Math.abs(x);
        int best = 0;
        double bestErr = Double.POSITIVE_INFINITY;
        for (int c = 0; c < 0x80; c++) {
            double v = refDecode(f, c);
            if (!Double.isFinite(v)) continue;
            double err = Math.abs(v - a);
            if (err < bestErr || err == bestErr && (c & 1) == 0) {
                best = c;
                bestErr = err;
            }
        }
        return sign | best;
    }

    private static double refMax(Fp8Format f) {
        double m = 0;
        for (int c = 0; c < 0x80; c++) if (Double.isFinite(refDecode(f, c))) m = Math.max(m, refDecode(f, c));
        return m;
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void everyCodeDecodesAsTheReferenceAndEveryFiniteCodeRoundTrips(Fp8Format f) {
        assertThat((double) f.max).isEqualTo(refMax(f));
        int finite = 0;
        for (int c = 0; c < 256; c++) {
            double ref = refDecode(f, c);
            float got = f.decode((byte) c);
            if (Double.isNaN(ref)) {
                assertThat(got).as("code %02x", c).isNaN();
                assertThat(Float.isNaN(f.decode(f.encode(Float.NaN)))).isTrue();
                continue;
            }
            assertThat((double) got).as("code %02x", c).isEqualTo(ref);
            if (Double.isInfinite(ref)) {
                assertThat(f.encode(got) & 0xFF).as("inf saturates").isEqualTo(c < 0x80 ? refEncode(f, f.max) : refEncode(f, -f.max));
                continue;
            }
            assertThat(f.encode(got) & 0xFF).as("round trip of code %02x (%s)", c, got).isEqualTo(c);
            finite++;
        }
        assertThat(finite).isEqualTo(f == Fp8Format.E4M3 ? 254 : 248);
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void halfwayBetweenNeighboursRoundsToTheEvenCodeAndJustOffItToTheNearer(Fp8Format f) {
        for (int c = 0; c < 0x7F; c++) {
            double lo = refDecode(f, c), hi = refDecode(f, c + 1);
            if (!Double.isFinite(lo) || !Double.isFinite(hi)) continue;
            float mid = (float) ((lo + hi) / 2);
            assertThat((double) mid).as("midpoint exact in float").isEqualTo((lo + hi) / 2);
            int even = (c & 1) == 0 ? c : c + 1;
            for (int sign : new int[] {1, -1}) {
                int s = sign < 0 ? 0x80 : 0;
                assertThat(f.encode(sign * mid) & 0xFF).as("mid %s..%s", lo, hi).isEqualTo(s | even);
                assertThat(f.encode(sign * Math.nextUp(mid)) & 0xFF).isEqualTo(s | (c + 1));
                assertThat(f.encode(sign * Math.nextDown(mid)) & 0xFF).isEqualTo(s | c);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void beyondTheLargestFiniteValueSaturates(Fp8Format f) {
        int maxCode = refEncode(f, refMax(f));
        for (float x : new float[] {f.max, Math.nextUp(f.max), f.max * 1.03f, f.max * 1.5f, f.max * 4, 1e30f, Float.MAX_VALUE, Float.POSITIVE_INFINITY}) {
            assertThat(f.encode(x) & 0xFF).as("%s", x).isEqualTo(maxCode);
            assertThat(f.encode(-x) & 0xFF).isEqualTo(0x80 | maxCode);
        }
        assertThat(f.decode((byte) maxCode)).isEqualTo(f.max);
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void subnormalsAndSignedZero(Fp8Format f) {
        int mb = 7 - expBits(f), bias = (1 << (expBits(f) - 1)) - 1;
        float tiny = (float) Math.pow(2, 1 - bias - mb);   // smallest subnormal
        assertThat(f.decode((byte) 1)).isEqualTo(tiny);
        assertThat(f.encode(tiny / 2) & 0xFF).isZero();            // tie with 0: even
        assertThat(f.encode(-tiny / 2) & 0xFF).isEqualTo(0x80);    // keeps its sign
        assertThat(f.encode(tiny * 0.75f) & 0xFF).isEqualTo(1);
        assertThat(f.encode(tiny * 1.5f) & 0xFF).isEqualTo(2);     // tie between 1 and 2: even
        assertThat(f.encode(tiny * 2.5f) & 0xFF).isEqualTo(2);
        assertThat(f.encode(Float.MIN_VALUE) & 0xFF).isZero();
        assertThat(f.encode(-0f) & 0xFF).isEqualTo(0x80);
        assertThat(f.decode((byte) 0x80)).isEqualTo(-0f);
        // the largest subnormal rounds up into the smallest normal
        float maxSub = (float) refDecode(f, (1 << mb) - 1), minNormal = (float) refDecode(f, 1 << mb);
        assertThat(f.encode(Math.nextUp((maxSub + minNormal) / 2)) & 0xFF).isEqualTo(1 << mb);
    }

    @ParameterizedTest
    @EnumSource(Fp8Format.class)
    void randomFloatsEncodeAsTheReference(Fp8Format f) {
        Random r = new Random(42 + f.ordinal());
        for (int i = 0; i < 100_000; i++) {
            float x = (float) ((r.nextBoolean() ? 1 : -1) * Math.pow(2, -30 + 52 * r.nextDouble()));
            assertThat(f.encode(x) & 0xFF).as("%s", x).isEqualTo(refEncode(f, x));
        }
    }

    @Test
    void safetensorsNamesTheDtypes() {
        assertThat(DType.fromSafetensors("F8_E4M3")).isEqualTo(DType.F8_E4M3);
        assertThat(DType.fromSafetensors("F8_E5M2")).isEqualTo(DType.F8_E5M2);
        assertThat(Fp8Format.of(DType.F8_E5M2).dtype()).isEqualTo(DType.F8_E5M2);
    }
}
