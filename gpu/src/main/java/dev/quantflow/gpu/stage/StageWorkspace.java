package dev.quantflow.gpu.stage;

import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.MemoryCategory;
import java.util.HashMap;
import java.util.Map;

/**
 * A stage's own activation buffers on its card, by name: sized for the largest batch at load and
 * regrown (never shrunk) when a step brings more rows. Counted as WORKSPACE.
 */
final class StageWorkspace implements AutoCloseable {
    private final CudaContext ctx;
    private final Map<String, DeviceBuffer> buffers = new HashMap<>();

    StageWorkspace(CudaContext ctx) {
        this.ctx = ctx;
    }

    /** A buffer of at least bytes; its contents are undefined (every user writes before it reads). */
    DeviceBuffer get(String name, long bytes) {
        DeviceBuffer b = buffers.get(name);
        if (b != null && b.bytes() >= bytes) return b;
        if (b != null) {
            buffers.remove(name);
            b.close();
        }
        b = ctx.allocate(Math.max(bytes, 256), MemoryCategory.WORKSPACE);
        buffers.put(name, b);
        return b;
    }

    long bytes() {
        return buffers.values().stream().mapToLong(DeviceBuffer::bytes).sum();
    }

    @Override
    public void close() {
        buffers.values().forEach(DeviceBuffer::close);
        buffers.clear();
    }
}
