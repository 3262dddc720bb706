package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.VectorMath;
import dev.quantflow.engine.model.Tensor;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * LLM.int8() (Dettmers et al. 2022): the input columns of a row where |x| >= threshold are split
 * off and multiplied in floating point with the matching weight columns; the rest is quantized
 * vector-wise (a scale per activation row, one per weight output channel) and multiplied
 * int8 x int8 -> int32; the two results are summed.
 *
 * <p>The split is decided per row, not per batch as in the paper: a row's outlier columns are its
 * own |x| >= threshold plus the calibrated columns (always fp when they have fp32 copies), so a
 * row's result is bit-identical whatever other rows share the batch (a server batches unrelated
 * requests). Each row's fp columns are added in ascending column order.
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
    private final boolean fpColumnsAlways; // the fp32 columns are calibrated outlier channels: fp in every row
    private final float[] bias;
    private final AtomicLong steps = new AtomicLong(), outlierColumns = new AtomicLong(), columnsSeen = new AtomicLong();

    /** fpCols are calibrated outlier channels (fp in every row); see the other constructor for fp=copy. */
    public LlmInt8Linear(QuantizedMatrix w, float threshold, int[] fpCols, float[][] fpWeights, float[] bias) {
        this(w, threshold, fpCols, fpWeights, FpSource.CALIBRATED, bias);
    }

    /** source COPY: fpCols are only where an outlier column's weights come from, not outliers themselves. */
    public LlmInt8Linear(QuantizedMatrix w, float threshold, int[] fpCols, float[][] fpWeights, FpSource source, float[] bias) {
        if (w.range() != IntRange.INT8_SYM || !w.layout().perRowOnly())
            throw new IllegalArgumentException("LLM.int8() needs symmetric int8 weights with one scale per output channel");
        if (!(threshold > 0)) throw new IllegalArgumentException("llm-int8 threshold must be positive, got " + threshold);
        if (fpCols.length != fpWeights.length) throw new IllegalArgumentException("one fp32 column per kept outlier channel");
        this.w = w;
        this.threshold = threshold;
        this.fpCols = fpCols;
        this.fpWeights = fpWeights;
        this.bias = bias;
        this.fpColumnsAlways = source != FpSource.COPY;
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
            case COPY -> IntStream.range(0, in).toArray();
        };
        Arrays.sort(cols);
        float[][] fp = new float[cols.length][out];
        for (int k = 0; k < cols.length; k++)
            for (int o = 0; o < out; o++) fp[k][o] = weight[o * in + cols[k]];
        return new LlmInt8Linear(q, threshold, cols, fp, source, bias);
    }

    /**
     * quantize(weight.toFloatArray(), ...) streamed from a stored matrix (a model quantized at load):
     * int8 rows on all cores, the fp32 copies read column by column; no fp32 copy of the matrix
     * (its garbage grew a 1.1B llm-int8 load to 3.3 GB). COPY keeps every column: the array path.
     */
    public static LlmInt8Linear quantize(Tensor weight, float threshold, FpSource source, int[] keptColumns, float[] bias) {
        int out = weight.rows(), in = weight.cols();
        if (source == FpSource.COPY) return quantize(weight.toFloatArray(), out, in, threshold, source, keptColumns, bias);
        QuantizedMatrix q = QuantizedMatrix.quantize(weight, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX);
        int[] cols = source == FpSource.DEQUANT ? new int[0] : keptColumns.clone();
        Arrays.sort(cols);
        float[][] fp = new float[cols.length][out];
        float[] one = new float[1];
        for (int k = 0; k < cols.length; k++)
            for (int o = 0; o < out; o++) {
                weight.readFloats((long) o * in + cols[k], one, 0, 1);
                fp[k][o] = one[0];
            }
        return new LlmInt8Linear(q, threshold, cols, fp, source, bias);
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
        boolean[] fp = outliers(x, rows, in);   // [r * in + c]: x[r, c] goes the fp path
        boolean[] anyRow = new boolean[in];
        long n = 0;
        float[] xi = x;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < in; c++) {
                if (!fp[r * in + c]) continue;
                if (xi == x) xi = Arrays.copyOf(x, rows * in);
                xi[r * in + c] = 0f;
                anyRow[c] = true;
                n++;
            }
        }
        steps.incrementAndGet();
        outlierColumns.addAndGet(n);
        columnsSeen.addAndGet((long) rows * in);
        ActivationQuant.quantize(xi, rows, w.layout()).matmul(w, rows, bias, y);
        if (n == 0) return;
        // columns outermost (each dequantized once), so every row still adds its own columns in ascending order
        float[] col = new float[out];
        for (int c = 0; c < in; c++) {
            if (!anyRow[c]) continue;
            float[] wc = fpIndex[c] >= 0 ? fpWeights[fpIndex[c]] : dequantizedColumn(c, col);
            for (int r = 0; r < rows; r++) {
                float xv = x[r * in + c];
                if (fp[r * in + c] && xv != 0f) VectorMath.axpy(y, r * out, xv, wc, 0, out);
            }
        }
    }

    /** Per row: its columns with |x| >= threshold, and the calibrated columns. */
    private boolean[] outliers(float[] x, int rows, int in) {
        boolean[] fp = new boolean[rows * in];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < in; c++) fp[r * in + c] = Math.abs(x[r * in + c]) >= threshold;
            if (fpColumnsAlways) for (int c : fpCols) fp[r * in + c] = true;
        }
        return fp;
    }

    private float[] dequantizedColumn(int c, float[] dst) {
        int in = w.cols();
        byte[] q = w.q();
        float[] s = w.scales();
        for (int o = 0; o < dst.length; o++) dst[o] = q[o * in + c] * s[o];
        return dst;
    }
}
