package dev.quantflow.engine.gguf.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.compute.Int4x8Panels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Q4_0 on the int4 x int8 panel kernel ({@link Int4x8Panels}): against a float64 reference of
 * ggml's vec_dot_q4_0_q8_0 (the integer block dot computed exactly, times d_w * d_x) on random
 * shapes, row counts not multiples of the panel; the int16 sums at their extreme; batch invariance.
 */
class Q4_0LinearTest {
    @Test
    void matchesGgmlIntegerDotInFloat64() {
        Random rnd = new Random(5);
        int[][] shapes = {{1, 32}, {31, 64}, {33, 160}, {70, 256}, {100, 2048}};
        for (int[] sh : shapes) {
            int out = sh[0], in = sh[1];
            byte[] blocks = randomBlocks(out, in, rnd, false);
            Q4_0Linear l = new Q4_0Linear(MemorySegment.ofArray(blocks), out, in);
            for (int rows : new int[] {1, 3, 16}) {
                float[] x = new float[rows * in];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian() * (i % 37 == 0 ? 10 : 1);
                float[] y = new float[rows * out];
                l.forward(x, rows, y);
                check(blocks, out, in, x, rows, y);
            }
        }
    }

    @Test
    void extremeBlockSumsStayExact() {
        Random rnd = new Random(6);
        int out = 40, in = 128;
        for (int code : new int[] {0, 15}) {   // q - 8 = -8 or 7 everywhere, x at +-127: block sums of +-32512 and 28448
            byte[] blocks = randomBlocks(out, in, rnd, false);
            for (int at = 0; at < blocks.length; at += 18) Arrays.fill(blocks, at + 2, at + 18, (byte) (code | code << 4));
            Q4_0Linear l = new Q4_0Linear(MemorySegment.ofArray(blocks), out, in);
            for (float sign : new float[] {1f, -1f}) {
                float[] x = new float[in];
                Arrays.fill(x, sign * 3.5f);
                float[] y = new float[out];
                l.forward(x, 1, y);
                check(blocks, out, in, x, 1, y);
            }
        }
    }

    @Test
    void aRowsOutputDoesNotDependOnItsBatch() {
        Random rnd = new Random(7);
        int out = 77, in = 320;
        byte[] blocks = randomBlocks(out, in, rnd, false);
        Q4_0Linear l = new Q4_0Linear(MemorySegment.ofArray(blocks), out, in);
        int rows = 13;   // three tiles of four and one row alone
        float[] x = new float[rows * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        float[] y = new float[rows * out];
        l.forward(x, rows, y);
        for (int r = 0; r < rows; r++) {
            float[] one = new float[out];
            l.forward(Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, one);
            assertThat(one).as("row %d", r).isEqualTo(Arrays.copyOfRange(y, r * out, (r + 1) * out));
        }
    }

    @Test
    void nonFiniteScalesAreRefused() {
        byte[] blocks = randomBlocks(2, 32, new Random(8), false);
        blocks[18] = 0;
        blocks[19] = 0x7C;   // +Inf
        assertThatThrownBy(() -> new Q4_0Linear(MemorySegment.ofArray(blocks), 2, 32)).hasMessageContaining("row 1 block 0 has a non-finite scale");
    }

    @Test
    void readsNativeAndHeapBlocksAlike() {
        Random rnd = new Random(9);
        int out = 35, in = 96;
        byte[] blocks = randomBlocks(out, in, rnd, true);
        MemorySegment n = Arena.ofAuto().allocate(blocks.length);
        MemorySegment.copy(MemorySegment.ofArray(blocks), 0, n, 0, blocks.length);
        float[] x = new float[in];
        for (int i = 0; i < in; i++) x[i] = (float) rnd.nextGaussian();
        float[] a = new float[out], b = new float[out];
        new Q4_0Linear(MemorySegment.ofArray(blocks), out, in).forward(x, 1, a);
        new Q4_0Linear(n, out, in).forward(x, 1, b);
        assertThat(a).isEqualTo(b);
        check(blocks, out, in, x, 1, a);
    }

    /** y against sum_b d_w * d_x * (exact integer sum of (q - 8) * xq over the block), in float64. */
    private static void check(byte[] blocks, int out, int in, float[] x, int rows, float[] y) {
        int nb = in / 32;
        for (int r = 0; r < rows; r++) {
            byte[] xq = new byte[in];
            float[] xd = new float[nb];
            Q8Activations.q8_0(Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, in, xq, xd);
            for (int o = 0; o < out; o++) {
                double exact = 0, scale = 0;
                for (int b = 0; b < nb; b++) {
                    int at = (o * nb + b) * 18;
                    double dw = Float.float16ToFloat((short) (blocks[at] & 0xFF | blocks[at + 1] << 8));
                    long isum = 0;
                    for (int j = 0; j < 16; j++) {
                        int q = blocks[at + 2 + j] & 0xFF;
                        isum += (long) ((q & 0xF) - 8) * xq[b * 32 + j] + (long) ((q >>> 4) - 8) * xq[b * 32 + j + 16];
                    }
                    exact += dw * xd[b] * isum;
                    scale += Math.abs(dw * xd[b] * isum);
                }
                assertThat((double) y[r * out + o]).as("%dx%d, row %d, y[%d]", out, in, r, o).isCloseTo(exact, org.assertj.core.data.Offset.offset(1e-6 * scale + 1e-30));
            }
        }
    }

    /** Random codes, random small f16 scales (subnormals too when asked). */
    static byte[] randomBlocks(int out, int in, Random rnd, boolean subnormals) {
        byte[] b = new byte[out * in / 32 * 18];
        rnd.nextBytes(b);
        for (int at = 0; at < b.length; at += 18) {
            float d = (float) (rnd.nextDouble() * 0.02 - 0.01);
            short h = Float.floatToFloat16(subnormals && rnd.nextInt(4) == 0 ? d * 1e-3f : d);
            b[at] = (byte) h;
            b[at + 1] = (byte) (h >> 8);
        }
        return b;
    }
}
