package dev.quantflow.engine.compute;

/** y = x W^T + b for a Linear that computes x W^T only (e.g. a GGUF block format with Qwen2's q/k/v bias). */
public final class BiasedLinear implements Linear {
    private final Linear inner;
    private final float[] bias;   // (out)

    public BiasedLinear(Linear inner, float[] bias) {
        if (bias.length != inner.outFeatures()) throw new IllegalArgumentException("bias has " + bias.length + " values for " + inner.outFeatures() + " outputs");
        this.inner = inner;
        this.bias = bias;
    }

    public Linear inner() {
        return inner;
    }

    @Override
    public int inFeatures() {
        return inner.inFeatures();
    }

    @Override
    public int outFeatures() {
        return inner.outFeatures();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        inner.forward(x, rows, y);
        int out = bias.length;
        for (int r = 0; r < rows; r++) VectorMath.addInPlace(y, r * out, bias, 0, out);
    }

    @Override
    public long weightBytes() {
        return inner.weightBytes() + 4L * bias.length;
    }

    @Override
    public String scheme() {
        return inner.scheme();
    }
}
