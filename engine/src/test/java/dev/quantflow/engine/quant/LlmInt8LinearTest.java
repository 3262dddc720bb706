package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The LLM.int8() split: outlier columns through fp32, the rest through int8; no outliers = pure int8. */
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
        assertThat(l.outlierStats()).isEqualTo(new OutlierStats(1, 0, IN));
    }

    @Test
    void columnsAboveTheThresholdGoThroughFloatingPoint() {
        float[] w = QuantLinearTest.rand(OUT * IN, 3, 0.1f), x = QuantLinearTest.rand(ROWS * IN, 4, 1f);
        for (int r = 0; r < ROWS; r++) for (int c = 0; c < IN; c++) x[r * IN + c] = Math.max(-5.9f, Math.min(5.9f, x[r * IN + c]));
        x[1 * IN + 10] = 40f;     // column 10: one row above the threshold -> the whole column is fp
        x[3 * IN + 77] = -6f;     // |x| >= threshold counts
        LlmInt8Linear l = LlmInt8Linear.quantize(w, OUT, IN, 6f, LlmInt8Linear.FpSource.CALIBRATED, new int[] {10}, null);
        float[] y = new float[ROWS * OUT];
        l.forward(x, ROWS, y);
        assertThat(l.outlierStats()).isEqualTo(new OutlierStats(1, 2, IN));

        // expected: int8 product of x with columns 10 and 77 zeroed, plus those columns in float64
        // (column 10 from the fp32 copy, column 77 dequantized from its int8 codes)
        float[] xi = x.clone();
        for (int r = 0; r < ROWS; r++) xi[r * IN + 10] = xi[r * IN + 77] = 0f;
        float[] yInt = new float[ROWS * OUT];
        W8A8DynamicLinear.quantize(w, OUT, IN, IN, null, "w8a8-dynamic").forward(xi, ROWS, yInt);
        QuantizedMatrix q = l.weights();
        for (int r = 0; r < ROWS; r++)
            for (int o = 0; o < OUT; o++) {
                double fp = (double) x[r * IN + 10] * w[o * IN + 10] + (double) x[r * IN + 77] * q.dequantize(o, 77);
                assertThat((double) y[r * OUT + o]).isCloseTo(yInt[r * OUT + o] + fp, org.assertj.core.data.Offset.offset(1e-4));
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
