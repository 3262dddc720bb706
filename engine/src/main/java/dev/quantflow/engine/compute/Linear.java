package dev.quantflow.engine.compute;

/**
 * y = x W^T (+ b) for a batch of token rows: x is (rows, in) row-major, y is (rows, out). Each
 * storage/quantization format is its own class; all rows of a batch go through one call so that
 * every weight is read once per step, not once per sequence.
 */
public interface Linear {
    int inFeatures();

    int outFeatures();

    void forward(float[] x, int rows, float[] y);

    /** Bytes this layer keeps resident for its weights (incl. scales, zero points, outlier copies). */
    long weightBytes();

    /** The scheme's name for reports (fp32, bf16, llm-int8, ...). */
    String scheme();

    /** A batch as rows one-row calls of decode ((in) -> (out)): each row summed exactly as alone (species without a vector tile). */
    static void rowByRow(int in, int out, float[] x, int rows, float[] y, java.util.function.BiConsumer<float[], float[]> decode) {
        float[] xr = new float[in], yr = new float[out];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(x, r * in, xr, 0, in);
            decode.accept(xr, yr);
            System.arraycopy(yr, 0, y, r * out, out);
        }
    }
}
