package dev.quantflow.gpu.stage;

import dev.quantflow.engine.llama.DecoderOps;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.CudaKernels.DenseType;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.linear.CudaLinear;
import java.util.Optional;

/**
 * The decoder ops as CUDA kernels on one card, bound to one step: the step's index (tokens,
 * positions, KV slots, block tables, selected rows) was copied to the card once; activations are
 * the stage's workspace buffers, so the hidden state stays on the card between ops. Every launch
 * goes to the default stream in order; only download waits.
 */
final class CudaDecoderOps implements DecoderOps<DeviceBuffer, DeviceBuffer, CudaLinear> {
    /** Where the stage keeps what a step reads besides its activations. */
    record StageBuffers(DeviceBuffer invFreq, DeviceBuffer embedding, DenseType embeddingType, DeviceBuffer[] keys, DeviceBuffer[] values, int blockSize) {}

    /** The step's index on the card: int32 arrays, sliced from one upload. */
    record StepBuffers(DeviceBuffer tokens, DeviceBuffer positions, DeviceBuffer slots, DeviceBuffer tables, DeviceBuffer tableOffsets, Optional<DeviceBuffer> selected) {}

    private static final CudaKernels.Path AUTO = CudaKernels.Path.AUTO;

    private final CudaContext ctx;
    private final CudaKernels k;
    private final StageWorkspace ws;
    private final LlamaConfig c;
    private final StageBuffers stage;
    private final StepBuffers step;
    private final int rows, selectedRows;

    CudaDecoderOps(CudaContext ctx, CudaKernels k, StageWorkspace ws, LlamaConfig c, StageBuffers stage, StepBuffers step, int rows, int selectedRows) {
        this.ctx = ctx;
        this.k = k;
        this.ws = ws;
        this.c = c;
        this.stage = stage;
        this.step = step;
        this.rows = rows;
        this.selectedRows = selectedRows;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int selectedRows() {
        return selectedRows;
    }

    @Override
    public DeviceBuffer scratch(String name, int rows, int width) {
        return ws.get(name, 4L * rows * width);
    }

    @Override
    public DeviceBuffer embed() {
        DeviceBuffer x = scratch("x", rows, c.hiddenSize());
        k.embed(stage.embeddingType(), stage.embedding(), step.tokens(), x, rows, c.hiddenSize());
        return x;
    }

    @Override
    public DeviceBuffer upload(float[] hidden) {
        int n = rows * c.hiddenSize();
        if (hidden.length < n) throw new IllegalArgumentException("hidden has " + hidden.length + " values for " + rows + " rows of " + c.hiddenSize());
        DeviceBuffer x = scratch("x", rows, c.hiddenSize());
        x.upload(hidden, n);
        return x;
    }

    @Override
    public DeviceBuffer selectRows(DeviceBuffer x, int width) {
        DeviceBuffer xs = scratch("head.x", selectedRows, width);
        k.embed(DenseType.F32, x, step.selected().orElseThrow(), xs, selectedRows, width);   // the fp32 gather picks rows of x
        return xs;
    }

    @Override
    public void rmsnorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer out, int rows) {
        k.rmsnorm(x, weight, out, rows, c.hiddenSize(), c.rmsNormEps());
    }

    @Override
    public void linear(CudaLinear w, DeviceBuffer x, int rows, DeviceBuffer out) {
        w.run(x, rows, out, AUTO);
    }

    @Override
    public void rope(DeviceBuffer x, int heads) {
        k.rope(x, step.positions(), stage.invFreq(), rows, heads, c.headDim());
    }

    @Override
    public void kvStore(int layer, DeviceBuffer kk, DeviceBuffer v) {
        k.kvStore(kk, v, step.slots(), stage.keys()[layer], stage.values()[layer], rows, c.kvDim());
    }

    @Override
    public void attention(int layer, DeviceBuffer q, DeviceBuffer out) {
        k.attention(q, stage.keys()[layer], stage.values()[layer], step.tables(), step.tableOffsets(), step.positions(), out, rows,
                c.numHeads(), c.numKvHeads(), c.headDim(), stage.blockSize());
    }

    @Override
    public void add(DeviceBuffer x, DeviceBuffer y, int n) {
        k.add(x, y, n);
    }

    @Override
    public void siluGate(DeviceBuffer gate, DeviceBuffer up, int n) {
        k.siluGate(gate, up, n);
    }

    @Override
    public float[] download(DeviceBuffer x, int n) {
        float[] out = new float[n];
        if (n == 0) ctx.synchronize();
        else x.download(out, n);   // synchronous: waits for every launch before it
        return out;
    }
}
