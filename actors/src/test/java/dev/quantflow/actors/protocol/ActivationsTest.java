package dev.quantflow.actors.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** bf16 on the wire: round to nearest, ties to even, against a float64 reference; fp32 untouched; the byte codec both ways. */
class ActivationsTest {
    /** The bf16 value nearest x in float64 arithmetic (ties: the even mantissa), found among the two bf16 values around x. */
    private static float nearestBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        float down = Float.intBitsToFloat(bits & 0xFFFF0000);          // towards zero
        float up = Float.intBitsToFloat((bits & 0xFFFF0000) + 0x10000); // away from zero (may be infinity)
        double dDown = Math.abs((double) x - down);
        // past the largest bf16 the next step up would be 2^128, where infinity sits
        double dUp = Math.abs((double) x - (Float.isInfinite(up) ? Math.copySign(Math.scalb(1.0, 128), x) : up));
        if (dDown < dUp) return down;
        if (dUp < dDown) return up;
        return ((Float.floatToRawIntBits(down) >>> 16) & 1) == 0 ? down : up;
    }

    @Test
    void bf16RoundsToNearestEvenOnRandomValues() {
        Random r = new Random(16);
        float[] v = new float[200_000];
        for (int i = 0; i < v.length; i++) {
            v[i] = switch (i % 4) {
                case 0 -> (float) r.nextGaussian();                           // activations' usual range
                case 1 -> (float) (r.nextGaussian() * Math.pow(10, r.nextInt(60) - 30));
                case 2 -> Float.intBitsToFloat(r.nextInt() & 0x7F7FFFFF | (r.nextBoolean() ? 0x80000000 : 0)); // any finite bit pattern
                default -> Float.intBitsToFloat((r.nextInt() & 0xFF7F0000) | 0x8000);                          // exact ties, finite
            };
        }
        float[] back = Activations.bf16(v).toFloats();
        for (int i = 0; i < v.length; i++)
            assertThat(Float.floatToRawIntBits(back[i])).as("bf16(%s) (bits %08x)", v[i], Float.floatToRawIntBits(v[i]))
                    .isEqualTo(Float.floatToRawIntBits(nearestBf16(v[i])));
    }

    @Test
    void specialValues() {
        float[] v = {0f, -0f, 1f, -2.5f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MIN_VALUE, Float.MAX_VALUE,
                Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000), Float.intBitsToFloat(0x7F800001)};
        float[] b = Activations.bf16(v).toFloats();
        assertThat(Float.floatToRawIntBits(b[0])).isZero();
        assertThat(Float.floatToRawIntBits(b[1])).isEqualTo(0x80000000);
        assertThat(b[2]).isEqualTo(1f);
        assertThat(b[3]).isEqualTo(-2.5f);
        assertThat(b[4]).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(b[5]).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(b[6]).isNaN();
        assertThat(b[7]).as("the smallest subnormal is below half a bf16 step: zero").isEqualTo(0f);
        assertThat(b[8]).as("above the largest bf16 by more than half a step").isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(b[9]).as("a tie rounds to the even 1.0").isEqualTo(1f);
        assertThat(Float.floatToRawIntBits(b[10])).as("a tie rounds up to the even mantissa").isEqualTo(0x3F820000);
        assertThat(b[11]).as("a signalling NaN whose payload sits in the dropped bits stays NaN").isNaN();
    }

    @Test
    void fp32IsTheArrayItselfAndTheCodecRoundTrips() {
        float[] v = {1.1f, -3e-20f, Float.NaN, 65504f};
        assertThat(Activations.fp32(v).toFloats()).isSameAs(v);
        for (Activations a : new Activations[] {Activations.fp32(v), Activations.bf16(v), Activations.NONE}) {
            byte[] bytes = a.encode();
            assertThat(bytes).hasSize(1 + a.length() * a.format().bytesPerValue);
            assertThat(Activations.decode(bytes)).isEqualTo(a);
        }
        assertThat(Activations.decode(new byte[] {1, 0, 0}).length()).isEqualTo(1);
        assertThatThrownBy(() -> Activations.decode(new byte[] {1, 0, 0, 0})).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("BF16 of 3 bytes");
        assertThatThrownBy(() -> Activations.decode(new byte[] {0, 0, 0})).hasMessageContaining("FP32 of 2 bytes");
        assertThatThrownBy(() -> Activations.decode(new byte[] {7})).hasMessageContaining("no format byte");
        assertThat(Activations.Format.parse(" BF16 ")).isEqualTo(Activations.Format.BF16);
        assertThatThrownBy(() -> Activations.Format.parse("fp8")).hasMessageContaining("expected fp32 or bf16");
    }
}
