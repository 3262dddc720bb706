package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.RowDecodable;

/**
 * Runs a quantized linear and its unquantized reference on the same input and accumulates the
 * relative output error ||y_q - y||^2 / ||y||^2 (evaluation only: it costs a second matmul).
 */
public sealed class LayerErrorProbe implements Linear {
    private final Linear quantized, reference;
    private double errSq, refSq;

    private LayerErrorProbe(Linear quantized, Linear reference) {
        this.quantized = quantized;
        this.reference = reference;
    }

    /** The probe of quantized; it decodes rows when quantized does (a tied head then still serves the embedding). */
    public static LayerErrorProbe of(Linear quantized, Linear reference) {
        return quantized instanceof RowDecodable r ? new Rows(r, reference) : new LayerErrorProbe(quantized, reference);
    }

    private static final class Rows extends LayerErrorProbe implements RowDecodable {
        private final RowDecodable rows;

        Rows(RowDecodable quantized, Linear reference) {
            super(quantized, reference);
            this.rows = quantized;
        }

        @Override
        public void decodeRow(int row, float[] dst, int off) {
            rows.decodeRow(row, dst, off);
        }
    }

    public Linear quantized() {
        return quantized;
    }

    /** sqrt(sum ||y_q - y||^2 / sum ||y||^2) over all calls so far. */
    public synchronized double relativeError() {
        return refSq == 0 ? 0 : Math.sqrt(errSq / refSq);
    }

    @Override
    public int inFeatures() {
        return quantized.inFeatures();
    }

    @Override
    public int outFeatures() {
        return quantized.outFeatures();
    }

    @Override
    public long weightBytes() {
        return quantized.weightBytes();
    }

    @Override
    public String scheme() {
        return quantized.scheme();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        quantized.forward(x, rows, y);
        float[] ref = new float[rows * outFeatures()];
        reference.forward(x, rows, ref);
        double e = 0, r = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = y[i] - ref[i];
            e += d * d;
            r += (double) ref[i] * ref[i];
        }
        synchronized (this) {
            errSq += e;
            refSq += r;
        }
    }
}
