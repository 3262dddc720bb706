package dev.quantflow.engine.llama;

/**
 * The kernels of one decoder step on one device, bound to that step: its token rows (positions,
 * KV slots and block tables), the rows it selects for logits and the KV cache of the stage's
 * layers. {@link DecoderForward} is the one forward pass written against it; a backend implements
 * these ops and never a layer loop of its own. The CPU's ({@link CpuDecoderOps}) is the reference
 * every device is checked against.
 *
 * @param <A> activations on the device: (rows, width) floats
 * @param <N> an RMSNorm weight (dim) on the device
 * @param <L> a linear layer in its packed format on the device
 */
public interface DecoderOps<A, N, L> {
    /** Token rows of the step. */
    int rows();

    /** Rows the step selects for logits (last stage). */
    int selectedRows();

    /** Scratch activations (rows, width); a name is one buffer that a device may keep across steps. */
    A scratch(String name, int rows, int width);

    /** The embedding rows of the step's tokens (stage 0). */
    A embed();

    /** The previous stage's hidden state (rows, dim), on the device. */
    A upload(float[] hidden);

    /** The selected rows of x (rows, width), in selection order. */
    A selectRows(A x, int width);

    /** out = rmsnorm(x) * weight, row by row. */
    void rmsnorm(A x, N weight, A out, int rows);

    /** out (rows, out features) = x (rows, in features) through w, bias included. */
    void linear(L w, A x, int rows, A out);

    /** Rotates heads heads of every row of x at the row's position. */
    void rope(A x, int heads);

    /** Stores every row's key and value into the layer's cache at the row's slot. */
    void kvStore(int layer, A k, A v);

    /** Grouped-query attention of every row's query over its sequence's positions [0, position]. */
    void attention(int layer, A q, A out);

    /** x[i] += y[i] for i < n. */
    void add(A x, A y, int n);

    /** gate[i] = silu(gate[i]) * up[i] for i < n. */
    void siluGate(A gate, A up, int n);

    /** The first n floats of x on the host (waits for the device); n = 0 only waits. */
    float[] download(A x, int n);
}
