package dev.quantflow.engine.gguf.block;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Q8_0Linear's repacked kernel (Q8_0Kernels) against a float64 reference written from ggml's
 * block_q8_0 and quantize_row_q8_0: per block the integer sum of code products (exact in
 * integers), times d_w * d_x, summed over blocks. Shapes with rows not a multiple of the
 * interleave (Q8_0Kernels.ROWS), x row counts that leave tiles partial, and one row against
 * 2..27 rows bit for bit.
 */
class Q8_0KernelsTest {
    @Test
    void matchesBlockwiseIntegerReference() {
        Random rnd = new Random(11);
        int R = Q8_0Kernels.ROWS;
        for (int out : new int[] {1, 3, R - 1, R, R + 1, 2 * R + 5, 41}) {
            for (int in : new int[] {32, 96, 512}) {
                byte[] bytes = BlockLinearsTest.randomBlocks(dev.quantflow.engine.gguf.GgmlType.Q8_0, out, in, rnd);
                Q8_0Linear l = new Q8_0Linear(nativeCopy(bytes), out, in);
                for (int rows : new int[] {1, 2, 3, 5, 8, 9, 16, 17}) {   // one row, the row tiles (groupRows, 2..8), the float scratch
                    float[] x = gaussian(rnd, rows * in);
                    float[] y = new float[rows * out];
                    l.forward(x, rows, y);
                    assertMatchesReference(bytes, out, in, x, rows, y);
                }
            }
        }
    }

    @Test
    void oneRowAndManyRowsAreBitIdentical() {
        Random rnd = new Random(5);
        // a leftover group; a whole and a partial chunk of blocks; 2..8 rows in row tiles (groupRows),
        // 9 and more on the float scratch (tiles of eight and four, single rows)
        int out = 3 * Q8_0Kernels.ROWS + 3, in = 320, most = 27;
        byte[] bytes = BlockLinearsTest.randomBlocks(dev.quantflow.engine.gguf.GgmlType.Q8_0, out, in, rnd);
        Q8_0Linear l = new Q8_0Linear(nativeCopy(bytes), out, in);
        float[] x = gaussian(rnd, most * in);
        float[][] one = new float[most][out];
        for (int r = 0; r < most; r++) l.forward(java.util.Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, one[r]);
        for (int rows = 2; rows <= most; rows++) {
            float[] batch = new float[rows * out];
            l.forward(x, rows, batch);
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < out; o++)
                    assertThat(Float.floatToRawIntBits(batch[r * out + o])).as("%d rows: row %d, y[%d]", rows, r, o).isEqualTo(Float.floatToRawIntBits(one[r][o]));
        }
    }

    /**
     * The largest products: weight codes -128 and 127 against x codes +-127 (x constant per block
     * up to sign, so every x code is +-127), where the one-row int16 kernel's per-short pair sums
     * (2 * 128 * 127) are at their bound; against the reference and the batched path bit for bit.
     */
    @Test
    void extremeCodesStayExact() {
        Random rnd = new Random(17);
        int out = 2 * Q8_0Kernels.ROWS + 1, in = 256, nb = in / 32;
        byte[] bytes = new byte[out * nb * 34];
        for (int o = 0; o < out; o++)
            for (int b = 0; b < nb; b++) {
                int at = (o * nb + b) * 34;
                short d = Float.floatToFloat16(0.01f + rnd.nextFloat());
                bytes[at] = (byte) d;
                bytes[at + 1] = (byte) (d >> 8);
                for (int k = 0; k < 32; k++) bytes[at + 2 + k] = (byte) (o % 3 == 0 ? -128 : o % 3 == 1 ? 127 : (k % 2 == 0 ? -128 : 127));
            }
        Q8_0Linear l = new Q8_0Linear(nativeCopy(bytes), out, in);
        float[] x = new float[2 * in];
        for (int i = 0; i < x.length; i++) x[i] = (i / 32 % 2 == 0 ? 1 : -1) * (i % 32 % 2 == 0 || i >= in ? 2.5f : -2.5f);
        float[] one = new float[out], two = new float[2 * out];
        l.forward(x, 1, one);
        assertMatchesReference(bytes, out, in, x, 1, one);
        l.forward(x, 2, two);
        assertMatchesReference(bytes, out, in, x, 2, two);
        for (int o = 0; o < out; o++) assertThat(Float.floatToRawIntBits(two[o])).as("y[%d]", o).isEqualTo(Float.floatToRawIntBits(one[o]));
    }

    @Test
    void mappedBlocksAreUnloadedAndStillCorrect(@TempDir Path dir) throws IOException {
        Random rnd = new Random(3);
        int out = 2 * Q8_0Kernels.ROWS + 1, in = 2048;
        byte[] bytes = BlockLinearsTest.randomBlocks(dev.quantflow.engine.gguf.GgmlType.Q8_0, out, in, rnd);
        Path f = dir.resolve("w.bin");
        Files.write(f, bytes);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            MemorySegment mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes.length, arena);
            Q8_0Linear l = new Q8_0Linear(mapped, out, in);
            float[] x = gaussian(rnd, 3 * in), y = new float[3 * out];
            l.forward(x, 3, y);
            assertMatchesReference(bytes, out, in, x, 3, y);
            assertThat(mapped.get(ValueLayout.JAVA_BYTE, 100)).as("the mapping still reads (faults back in)").isEqualTo(bytes[100]);
        }
    }

    /** y against sum_b (sum_k q_w q_x) d_w d_x in float64, block by block. */
    private static void assertMatchesReference(byte[] w, int out, int in, float[] x, int rows, float[] y) {
        int nb = in / 32;
        for (int r = 0; r < rows; r++) {
            long[] qx = new long[in];
            double[] dx = new double[nb];
            for (int b = 0; b < nb; b++) {   // ggml's quantize_row_q8_0
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[r * in + 32 * b + j]));
                if (amax == 0) continue;
                dx[b] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
                float id = 127f / amax;
                for (int j = 0; j < 32; j++) qx[32 * b + j] = (long) Math.rint(x[r * in + 32 * b + j] * id);
            }
            for (int o = 0; o < out; o++) {
                double exact = 0, magnitude = 0;
                for (int b = 0; b < nb; b++) {
                    int at = (o * nb + b) * 34;
                    double dw = Float.float16ToFloat((short) ((w[at] & 0xFF) | w[at + 1] << 8));
                    long sum = 0;
                    for (int k = 0; k < 32; k++) sum += w[at + 2 + k] * qx[32 * b + k];
                    exact += sum * dw * dx[b];
                    magnitude += Math.abs(sum * dw * dx[b]);
                }
                // fp32 rounds only d_w * d_x and the running sum over blocks: a few ulps of the magnitude per block
                assertThat((double) y[r * out + o]).as("%dx%d, %d rows, y[%d][%d]", out, in, rows, r, o)
                        .isCloseTo(exact, Offset.offset(4 * Math.ulp(1f) * nb * magnitude + 1e-30));
            }
        }
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    private static MemorySegment nativeCopy(byte[] bytes) {
        MemorySegment s = Arena.ofAuto().allocate(bytes.length, 64);
        MemorySegment.copy(bytes, 0, s, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return s;
    }
}
