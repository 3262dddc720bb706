package dev.quantflow.gpu.linear;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.MemoryCategory;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A linear layer whose weights live on a card. forward() is the host-facing path that lets the
 * engine's LlamaStage run unchanged: copy x in, run the kernels, copy y out (the copies are what a
 * device-resident stage saves). run() is the device-side product for callers that keep
 * activations on the card. Layers of one card share its workspace, so calls on one card must
 * come from one thread at a time (the device's compute thread); forward() locks the context.
 */
public abstract sealed class CudaLinear implements Linear, AutoCloseable
        permits CudaDenseLinear, CudaLlmInt8Linear, CudaW8A8Linear, CudaW4A16Linear {
    protected final CudaKernels kernels;
    protected final CudaContext ctx;
    protected final int in, out;
    protected final Optional<DeviceBuffer> bias;
    private final List<DeviceBuffer> owned = new ArrayList<>();
    private long weightBytes;

    protected CudaLinear(CudaKernels kernels, int out, int in, float[] bias) {
        this.kernels = kernels;
        this.ctx = kernels.context();
        this.in = in;
        this.out = out;
        if (bias != null && bias.length != out) throw new IllegalArgumentException("bias has " + bias.length + " values for " + out + " outputs");
        this.bias = bias == null ? Optional.empty() : Optional.of(upload(bias));
    }

    protected final DeviceBuffer upload(float[] host) {
        DeviceBuffer b = weights(4L * host.length);
        b.upload(host, host.length);
        return b;
    }

    protected final DeviceBuffer upload(byte[] host) {
        DeviceBuffer b = weights(host.length);
        b.upload(host, host.length);
        return b;
    }

    protected final DeviceBuffer weights(long bytes) {
        DeviceBuffer b = ctx.allocate(bytes, MemoryCategory.WEIGHTS);
        owned.add(b);
        weightBytes += bytes;
        return b;
    }

    @Override
    public final int inFeatures() {
        return in;
    }

    @Override
    public final int outFeatures() {
        return out;
    }

    @Override
    public final long weightBytes() {
        return weightBytes;
    }

    @Override
    public final void forward(float[] x, int rows, float[] y) {
        if (rows <= 0) return;
        if (x.length < rows * in || y.length < rows * out) throw new IllegalArgumentException("x or y too small for " + rows + " rows");
        synchronized (ctx) {
            DeviceBuffer dx = ctx.workspace("linear.x", 4L * rows * in), dy = ctx.workspace("linear.y", 4L * rows * out);
            dx.upload(x, rows * in);
            run(dx, rows, dy, CudaKernels.Path.AUTO);
            dy.download(y, rows * out);
        }
    }

    /** y (rows, out) = x (rows, in) · W^T + bias, both on this card; asynchronous. */
    public abstract void run(DeviceBuffer x, int rows, DeviceBuffer y, CudaKernels.Path path);

    @Override
    public void close() {
        owned.forEach(DeviceBuffer::close);
        owned.clear();
        weightBytes = 0;
    }
}
