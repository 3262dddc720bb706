package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Fp8Kernels;
import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.model.Fp8Format;

/**
 * FP8 W8A8 (vLLM / TensorRT-LLM on Hopper): e4m3 weights (per channel or per tensor) times e4m3
 * activations, products accumulated in fp32, y = sx * sw * sum(xq * wq). Activations are scaled
 * per token at run time (max|x_row| / 448, optionally capped as FBGEMM's activation_scale_ub),
 * per tensor at run time, or by one static scale from calibration / the checkpoint's input_scale.
 * The activation codes, decoded (exact), go through Fp8Linear's kernel (interleave8 layout, eight
 * rows per activation load): each product of two fp8 values is exact in fp32, the sums fp32 in
 * that kernel's order, so a row's bits do not depend on its batch; y = bias + sx * (sw * sum).
 */
public final class Fp8W8A8Linear implements Linear {
    public enum Act { TOKEN, TENSOR, STATIC }

    private static final Fp8Format E4M3 = Fp8Format.E4M3;
    private final Fp8Linear kernel;   // the weights, no bias
    private final Act act;
    private final float inputScale;   // STATIC: the scale; TOKEN: an upper bound on max|x| (+inf: none)
    private final float[] bias;

    /** Over a copy of w's codes (w stays as it is). */
    public Fp8W8A8Linear(Fp8Matrix w, Act act, float inputScale, float[] bias) {
        this(w, act, inputScale, bias, false);
    }

    /** Over w's own code array, reordered in place (Fp8Linear.adopting): for codes made for this linear alone. */
    public static Fp8W8A8Linear adopting(Fp8Matrix w, Act act, float inputScale, float[] bias) {
        return new Fp8W8A8Linear(w, act, inputScale, bias, true);
    }

    private Fp8W8A8Linear(Fp8Matrix w, Act act, float inputScale, float[] bias, boolean adopt) {
        if (w.format() != E4M3) throw new IllegalArgumentException("FP8 W8A8 needs e4m3 weights, got " + w.format());
        if (act == Act.STATIC && !(inputScale > 0 && Float.isFinite(inputScale)))
            throw new IllegalArgumentException("a static FP8 input scale must be a positive number, got " + inputScale);
        this.kernel = adopt ? Fp8Linear.adopting(w, null) : new Fp8Linear(w, null);
        this.act = act;
        this.inputScale = inputScale;
        this.bias = bias;
    }

    /** The matrix with its row-major codes (a copy). */
    public Fp8Matrix weights() {
        return kernel.weights();
    }

    public Act act() {
        return act;
    }

    public float inputScale() {
        return inputScale;
    }

    @Override
    public int inFeatures() {
        return kernel.inFeatures();
    }

    @Override
    public int outFeatures() {
        return kernel.outFeatures();
    }

    @Override
    public long weightBytes() {
        return kernel.weightBytes() + (act == Act.STATIC ? 4 : 0) + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return new QuantScheme.Fp8W8A8(kernel.perChannel(), act).toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = kernel.outFeatures(), in = kernel.inFeatures();
        byte[] xq = new byte[in];
        float[] xs = new float[rows], xd = new float[rows * in], table = E4M3.table();
        float tensorScale = switch (act) {
            case STATIC -> inputScale;
            case TENSOR -> Fp8Matrix.scaleFor(Int8Kernels.maxAbs(x, 0, rows * in), E4M3);
            case TOKEN -> 0f;
        };
        for (int r = 0; r < rows; r++) {
            xs[r] = act == Act.TOKEN ? Fp8Matrix.scaleFor(Math.min(Int8Kernels.maxAbs(x, r * in, in), inputScale), E4M3) : tensorScale;
            Fp8Kernels.quantize(E4M3, x, r * in, in, xs[r], xq, 0);
            for (int i = 0; i < in; i++) xd[r * in + i] = table[xq[i] & 0xFF] * Fp8Kernels.X_SCALE;   // a code's value, exact
        }
        kernel.forwardScaled(xd, rows, y);
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) y[r * out + o] = (bias == null ? 0f : bias[o]) + xs[r] * y[r * out + o];
    }
}
