package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** PanelMatmul against a float64 matmul on random weights, with the decoder reading a row-major float matrix. */
class PanelMatmulTest {
    @ParameterizedTest
    @CsvSource({"2,1,1,1", "3,31,7,7", "5,33,16,16", "17,70,37,40", "4,64,530,544", "2,100,2048,2048", "6,9,15,15", "5,40,2500,2500"})   // 2048, 2500: k-blocked (PanelKernels.K_BLOCK)
    void matchesFloat64Reference(int rows, int out, int in, int stride) {
        Random rnd = new Random(31L * out + in);
        float[] w = new float[out * in], x = new float[rows * in], bias = new float[out];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < out; i++) bias[i] = (float) rnd.nextGaussian();
        float[] y = new float[rows * out];
        // the decoder fills the padding columns with garbage: only the first in of each row may be read
        PanelMatmul.forward(out, in, stride, (o, dst, off) -> {
            System.arraycopy(w, o * in, dst, off, in);
            for (int c = in; c < stride; c++) dst[off + c] = Float.NaN;
        }, bias, x, rows, y);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double exact = bias[o], scale = Math.abs(bias[o]);
                for (int k = 0; k < in; k++) {
                    exact += (double) w[o * in + k] * x[r * in + k];
                    scale += Math.abs((double) w[o * in + k] * x[r * in + k]);
                }
                assertThat((double) y[r * out + o]).as("%dx%d, %d rows, y[%d][%d]", out, in, rows, r, o)
                        .isCloseTo(exact, org.assertj.core.data.Offset.offset(1e-6 * scale + 1e-30));
            }
    }

    @ParameterizedTest
    @CsvSource({"2,1,1", "7,40,33", "16,70,530", "5,33,2100"})
    void eachRowIsBitIdenticalAloneInAPairOrInAnyBatch(int rows, int out, int in) {
        Random rnd = new Random(7L * out + in);
        float[] w = new float[out * in], x = new float[rows * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        PanelMatmul.RowDecoder d = (o, dst, off) -> System.arraycopy(w, o * in, dst, off, in);
        float[] all = new float[rows * out];
        PanelMatmul.forward(out, in, in, d, null, x, rows, all);
        for (int r = 0; r < rows; r++) {
            float[] two = new float[2 * in], y2 = new float[2 * out];
            System.arraycopy(x, r * in, two, 0, in);
            System.arraycopy(x, ((r + 1) % rows) * in, two, in, in);
            PanelMatmul.forward(out, in, in, d, null, two, 2, y2);
            for (int o = 0; o < out; o++) assertThat(y2[o]).as("row %d, y[%d]", r, o).isEqualTo(all[r * out + o]);
        }
    }
}
