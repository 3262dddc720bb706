package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.VectorMath;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * LLM.int8() (Dettmers et al. 2022): at run time the input columns where any row has
 * |x| >= threshold are split off and multiplied in floating point with the matching weight
 * columns; the rest is quantized vector-wise (a scale per activation row, one per weight output
 * channel) and multiplied int8 x int8 -> int32; the two results are summed.
 *
 * <p>The fp path needs the full-precision weights of columns only known at run time. Columns that
 * calibration showed as outlier channels keep an fp32 copy (outliers persist in fixed channels,
 * as SmoothQuant observed); any other column that turns up is dequantized from its int8 codes,
 * as bitsandbytes >= 0.45 does. {@link FpSource#COPY} keeps a full fp32 copy instead.
 */
public final class LlmInt8Linear implements Linear {
    /** Where the outlier columns' full-precision weights come from. */
    public enum FpSource { DEQUANT, CALIBRATED, COPY }

    private final QuantizedMatrix w;    // (out, in) symmetric int8, one scale per output channel
    private final float threshold;
    private final int[] fpCols;          // input columns with an fp32 copy, ascending
    private final float[][] fpWeights;   // [k][out]: column fpCols[k] of W in fp32
    private final int[] fpIndex;         // column -> k, or -1
    private final float[] bias;
    private final AtomicLong steps = new AtomicLong(), outlierColumns = new AtomicLong(), columnsSeen = new AtomicLong();

    public LlmInt8Linear(QuantizedMatrix w, float threshold, int[] fpCols, float[][] fpWeights, float[] bias) {
        if (w.range() != IntRange.INT8_SYM || !w.layout().perRowOnly())
            throw new IllegalArgumentException("LLM.int8() needs symmetric int8 weights with one scale per output channel");
        if (!(threshold > 0)) throw new IllegalArgumentException("llm-int8 threshold must be positive, got " + threshold);
        if (fpCols.length != fpWeights.length) throw new IllegalArgumentException("one fp32 column per kept outlier channel");
        this.w = w;
        this.threshold = threshold;
        this.fpCols = fpCols;
        this.fpWeights = fpWeights;
        this.bias = bias;
        this.fpIndex = new int[w.cols()];
        Arrays.fill(fpIndex, -1);
        for (int k = 0; k < fpCols.length; k++) {
            if (fpWeights[k].length != w.rows()) throw new IllegalArgumentException("fp32 column " + fpCols[k] + " has the wrong length");
            fpIndex[fpCols[k]] = k;
        }
    }

    /**
     * Quantizes weight (out, in); keeps fp32 copies of keptColumns (COPY: of every column; DEQUANT:
     * of none).
     */
    public static LlmInt8Linear quantize(float[] weight, int out, int in, float threshold, FpSource source, int[] keptColumns, float[] bias) {
        QuantizedMatrix q = QuantizedMatrix.quantize(weight, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX);
        int[] cols = switch (source) {
            case DEQUANT -> new int[0];
            case CALIBRATED -> keptColumns.clone();
            case COPY -> java.util.stream.IntStream.range(0, in).toArray();
        };
        Arrays.sort(cols);
        float[][] fp = new float[cols.length][out];
        for (int k = 0; k < cols.length; k++)
            for (int o = 0; o < out; o++) fp[k][o] = weight[o * in + cols[k]];
        return new LlmInt8Linear(q, threshold, cols, fp, bias);
    }

    public QuantizedMatrix weights() {
        return w;
    }

    public float threshold() {
        return threshold;
    }

    public int[] fpColumns() {
        return fpCols.clone();
    }

    public float[] fpColumn(int k) {
        return fpWeights[k];
    }

    /** Cumulative outlier columns over all forward calls so far (readable from any thread). */
    public OutlierStats outlierStats() {
        return new OutlierStats(steps.get(), outlierColumns.get(), columnsSeen.get());
    }

    @Override
    public int inFeatures() {
        return w.cols();
    }

    @Override
    public int outFeatures() {
        return w.rows();
    }

    @Override
    public long weightBytes() {
        return w.packedBytes() + 4L * fpCols.length * w.rows() + 4L * fpCols.length + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return "llm-int8";
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int in = w.cols(), out = w.rows();
        int[] outliers = outlierColumns(x, rows, in);
        steps.incrementAndGet();
        outlierColumns.addAndGet(outliers.length);
        columnsSeen.addAndGet(in);
        float[] xi = x;
        if (outliers.length > 0) {
            xi = Arrays.copyOf(x, rows * in);
            for (int r = 0; r < rows; r++) for (int c : outliers) xi[r * in + c] = 0f;
        }
        ActivationQuant.quantize(xi, rows, w.layout()).matmul(w, rows, bias, y);
        float[] col = new float[out];
        for (int c : outliers) {
            float[] wc = fpIndex[c] >= 0 ? fpWeights[fpIndex[c]] : dequantizedColumn(c, col);
            for (int r = 0; r < rows; r++) {
                float xv = x[r * in + c];
                if (xv != 0f) VectorMath.axpy(y, r * out, xv, wc, 0, out);
            }
        }
    }

    /** Columns where any row has |x| >= threshold, ascending. */
    private int[] outlierColumns(float[] x, int rows, int in) {
        boolean[] hit = new boolean[in];
        int n = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < in; c++)
                if (!hit[c] && Math.abs(x[r * in + c]) >= threshold) {
                    hit[c] = true;
                    n++;
                }
        int[] cols = new int[n];
        for (int c = 0, k = 0; c < in; c++) if (hit[c]) cols[k++] = c;
        return cols;
    }

    private float[] dequantizedColumn(int c, float[] dst) {
        int in = w.cols();
        byte[] q = w.q();
        float[] s = w.scales();
        for (int o = 0; o < dst.length; o++) dst[o] = q[o * in + c] * s[o];
        return dst;
    }
}
