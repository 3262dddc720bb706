package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Fp8Kernels;
import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.model.Fp8Format;

/**
 * FP8 W8A8 (vLLM / TensorRT-LLM on Hopper): e4m3 weights (per channel or per tensor) times e4m3
 * activations, products accumulated in fp32, y = sx * sw * sum(xq * wq). Activations are scaled
 * per token at run time (max|x_row| / 448, optionally capped as FBGEMM's activation_scale_ub),
 * per tensor at run time, or by one static scale from calibration / the checkpoint's input_scale.
 */
public final class Fp8W8A8Linear implements Linear {
    public enum Act { TOKEN, TENSOR, STATIC }

    private static final Fp8Format E4M3 = Fp8Format.E4M3;
    private final Fp8Matrix w;
    private final Act act;
    private final float inputScale;   // STATIC: the scale; TOKEN: an upper bound on max|x| (+inf: none)
    private final float[] bias;

    public Fp8W8A8Linear(Fp8Matrix w, Act act, float inputScale, float[] bias) {
        if (w.format() != E4M3) throw new IllegalArgumentException("FP8 W8A8 needs e4m3 weights, got " + w.format());
        if (act == Act.STATIC && !(inputScale > 0 && Float.isFinite(inputScale)))
            throw new IllegalArgumentException("a static FP8 input scale must be a positive number, got " + inputScale);
        this.w = w;
        this.act = act;
        this.inputScale = inputScale;
        this.bias = bias;
    }

    public Fp8Matrix weights() {
        return w;
    }

    public Act act() {
        return act;
    }

    public float inputScale() {
        return inputScale;
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
        return w.packedBytes() + (act == Act.STATIC ? 4 : 0) + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return new QuantScheme.Fp8W8A8(w.perChannel(), act).toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = w.rows(), in = w.cols();
        byte[] xq = new byte[rows * in];
        float[] xs = new float[rows];
        float tensorScale = switch (act) {
            case STATIC -> inputScale;
            case TENSOR -> Fp8Matrix.scaleFor(Int8Kernels.maxAbs(x, 0, rows * in), E4M3);
            case TOKEN -> 0f;
        };
        for (int r = 0; r < rows; r++) {
            xs[r] = act == Act.TOKEN ? Fp8Matrix.scaleFor(Math.min(Int8Kernels.maxAbs(x, r * in, in), inputScale), E4M3) : tensorScale;
            Fp8Kernels.quantize(E4M3, x, r * in, in, xs[r], xq, r * in);
        }
        byte[] wq = w.q();
        float[] ws = w.scales();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            for (int o = start; o < end; o++) {
                float b = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) y[r * out + o] = b + xs[r] * ws[o] * Fp8Kernels.dotF8(E4M3, xq, r * in, wq, o * in, in);
            }
        });
    }
}
