package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The LLM.int8() split, per row: a row's outlier columns (its own |x| >= threshold, plus the
 * calibrated ones) through fp32, the rest through int8; no outliers = pure int8. A row's result
 * does not depend on the other rows of its batch.
 */
class LlmInt8LinearTest {
    static final int OUT = 48, IN = 96, ROWS = 4;

    @Test
    void withoutOutliersTheResultIsExactlyThePureInt8Product() {
        float[] w = QuantLinearTest.rand(OUT * IN, 1, 0.1f), x = QuantLinearTest.rand(ROWS * IN, 2, 1f);
        LlmInt8Linear l = LlmInt8Linear.quantize(w, OUT, IN, 6f, LlmInt8Linear.FpSource.DEQUANT, new int[0], null);
        W8A8DynamicLinear pure = W8A8DynamicLinear.quantize(w, OUT, IN, IN, null, "w8a8-dynamic");
        float[] y = new float[ROWS * OUT], yPure = new float[ROWS * OUT];
        l.forward(x, ROWS, y);
        pure.forward(x, ROWS, yPure);
        assertThat(y).containsExactly(yPure);
        assertThat(l.outlierStats()).isEqualTo(new OutlierStats(1, 0, (long) ROWS * IN));
    }

    @Test
    void eachRowsOutlierColumnsGoThroughFloatingPoint() {
        float[] w = QuantLinearTest.rand(OUT * IN, 3, 0.1f), x = QuantLinearTest.rand(ROWS * IN, 4, 1f);
        for (int r = 0; r < ROWS; r++) for (int c = 0; c < IN; c++) x[r * IN + c] = Math.max(-5.9f, Math.min(5.9f, x[r * IN + c]));
        x[1 * IN + 10] = 40f;     // column 10: calibrated, fp in every row
        x[3 * IN + 77] = -6f;     // |x| >= threshold counts, in row 3 only
        x[2 * IN + 30] = 9f;      // row 2 only
        LlmInt8Linear l = LlmInt8Linear.quantize(w, OUT, IN, 6f, LlmInt8Linear.FpSource.CALIBRATED, new int[] {10}, null);
        float[] y = new float[ROWS * OUT];
        l.forward(x, ROWS, y);
        assertThat(l.outlierStats()).isEqualTo(new OutlierStats(1, ROWS + 2, (long) ROWS * IN));

        // float64 reference: per row, the int8 product (the row quantized without its outlier
        // columns) plus those columns in float64 (10 from the fp32 copy, others dequantized)
        QuantizedMatrix q = l.weights();
        for (int r = 0; r < ROWS; r++) {
            Set<Integer> fp = new TreeSet<>(List.of(10));
            for (int c = 0; c < IN; c++) if (Math.abs(x[r * IN + c]) >= 6f) fp.add(c);
            assertThat(fp).hasSize(r == 2 || r == 3 ? 2 : 1);
            float[] row = Arrays.copyOfRange(x, r * IN, (r + 1) * IN);
            for (int c : fp) row[c] = 0f;
            ActivationQuant a = ActivationQuant.quantize(row, 1, q.layout());
            for (int o = 0; o < OUT; o++) {
                long dot = 0;
                for (int c = 0; c < IN; c++) dot += (long) a.q()[c] * q.q()[o * IN + c];
                double ref = dot * (double) a.scales()[0] * q.scales()[o];
                for (int c : fp) ref += (double) x[r * IN + c] * (c == 10 ? w[o * IN + c] : q.dequantize(o, c));
                assertThat((double) y[r * OUT + o]).as("row %d out %d", r, o).isCloseTo(ref, Offset.offset(1e-4));
            }
        }
    }

    /** Rows alone, and the same rows in batches of every make-up and order: bit-identical (issue 11 item 3). */
    @ParameterizedTest
    @EnumSource(LlmInt8Linear.FpSource.class)
    void aRowsResultDoesNotDependOnItsBatch(LlmInt8Linear.FpSource source) {
        int rows = 9;
        float[] w = QuantLinearTest.rand(OUT * IN, 8, 0.1f), x = QuantLinearTest.rand(rows * IN, 9, 2f);
        x[0 * IN + 3] = 50f;
        x[4 * IN + 60] = -12f;
        x[7 * IN + 3] = 7f;
        x[8 * IN + 95] = 6f;
        LlmInt8Linear l = LlmInt8Linear.quantize(w, OUT, IN, 6f, source, new int[] {3, 41}, null);
        float[][] alone = new float[rows][OUT];
        for (int r = 0; r < rows; r++) l.forward(Arrays.copyOfRange(x, r * IN, (r + 1) * IN), 1, alone[r]);
        Random rnd = new Random(3);
        for (int trial = 0; trial < 40; trial++) {
            int n = 1 + rnd.nextInt(2 * rows);
            int[] pick = new int[n];
            float[] batch = new float[n * IN];
            for (int i = 0; i < n; i++) {
                pick[i] = rnd.nextInt(rows);
                System.arraycopy(x, pick[i] * IN, batch, i * IN, IN);
            }
            float[] y = new float[n * OUT];
            l.forward(batch, n, y);
            for (int i = 0; i < n; i++)
                assertThat(Arrays.copyOfRange(y, i * OUT, (i + 1) * OUT)).as("%s: row %d at %d of a batch of %d", source, pick[i], i, n).containsExactly(alone[pick[i]]);
        }
    }

    @Test
    void outliersRuinPerTokenInt8ButNotLlmInt8() {
        float[] w = QuantLinearTest.rand(OUT * IN, 5, 0.1f), x = QuantLinearTest.rand(ROWS * IN, 6, 1f);
        for (int r = 0; r < ROWS; r++) x[r * IN + 5] = 60f;   // a fixed outlier channel
        double pure = QuantLinearTest.relError(W8A8DynamicLinear.quantize(w, OUT, IN, IN, null, "w8a8"), w, OUT, IN, x, ROWS);
        double split = QuantLinearTest.relError(LlmInt8Linear.quantize(w, OUT, IN, 6f, LlmInt8Linear.FpSource.COPY, new int[0], null), w, OUT, IN, x, ROWS);
        assertThat(split).isLessThan(pure / 3);
    }

    @Test
    void memoryCountsTheFp32ColumnsKept() {
        float[] w = QuantLinearTest.rand(OUT * IN, 7, 0.1f);
        long dequant = LlmInt8Linear.quantize(w, OUT, IN, 6f, LlmInt8Linear.FpSource.DEQUANT, new int[0], null).weightBytes();
        long calibrated = LlmInt8Linear.quantize(w, OUT, IN, 6f, LlmInt8Linear.FpSource.CALIBRATED, new int[] {1, 2}, null).weightBytes();
        long copy = LlmInt8Linear.quantize(w, OUT, IN, 6f, LlmInt8Linear.FpSource.COPY, new int[0], null).weightBytes();
        assertThat(dequant).isEqualTo((long) OUT * IN + 4L * OUT);
        assertThat(calibrated - dequant).isEqualTo(2L * OUT * 4 + 8);
        assertThat(copy).isGreaterThan(4L * OUT * IN);
    }
}
