package dev.quantflow.gpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * One device allocation, counted in its context's DeviceMemory until closed; or a slice of one
 * (a window of it for kernel arguments and copies, freed with it, never by itself).
 */
public final class DeviceBuffer implements AutoCloseable {
    private final CudaContext ctx;
    private final CUdeviceptr ptr;
    private final long bytes;
    private final MemoryCategory category;
    private final DeviceBuffer parent;   // null for an allocation
    private boolean freed;

    DeviceBuffer(CudaContext ctx, long bytes, MemoryCategory category) {
        if (bytes <= 0) throw new IllegalArgumentException("device allocation of " + bytes + " bytes");
        this.ctx = ctx;
        this.bytes = bytes;
        this.category = category;
        this.parent = null;
        this.ptr = new CUdeviceptr();
        ctx.makeCurrent();
        JCudaDriver.cuMemAlloc(ptr, bytes);
        ctx.memory().add(category, bytes);
    }

    private DeviceBuffer(DeviceBuffer parent, long offset, long bytes) {
        this.ctx = parent.ctx;
        this.bytes = bytes;
        this.category = parent.category;
        this.parent = parent;
        this.ptr = parent.ptr().withByteOffset(offset);
    }

    /** The bytes [offset, offset + bytes) of this buffer as a buffer of their own (not counted again, not freed by close). */
    public DeviceBuffer slice(long offset, long bytes) {
        if (offset < 0 || bytes <= 0 || offset + bytes > this.bytes)
            throw new IllegalArgumentException("slice [" + offset + ", " + (offset + bytes) + ") of a device buffer of " + this.bytes + " bytes");
        return new DeviceBuffer(this, offset, bytes);
    }

    public CUdeviceptr ptr() {
        if (freed || (parent != null && parent.freed)) throw new IllegalStateException("device buffer used after close");
        return ptr;
    }

    public long bytes() {
        return bytes;
    }

    public MemoryCategory category() {
        return category;
    }

    public void upload(float[] src, int count) {
        check(4L * count);
        ctx.makeCurrent();
        JCudaDriver.cuMemcpyHtoD(ptr(), Pointer.to(src), 4L * count);
    }

    public void upload(int[] src, int count) {
        check(4L * count);
        ctx.makeCurrent();
        JCudaDriver.cuMemcpyHtoD(ptr(), Pointer.to(src), 4L * count);
    }

    public void upload(byte[] src, int count) {
        check(count);
        ctx.makeCurrent();
        JCudaDriver.cuMemcpyHtoD(ptr(), Pointer.to(src), count);
    }

    /** Copies a direct buffer (e.g. a slice of a memory-mapped weight file) to byte offset at. */
    public void upload(ByteBuffer direct, long at) {
        check(at + direct.remaining());
        ctx.makeCurrent();
        JCudaDriver.cuMemcpyHtoD(ptr().withByteOffset(at), Pointer.to(direct), direct.remaining());
    }

    /** Copies a (possibly memory-mapped, possibly > 2 GiB) segment to the start, in slices of at most 256 MiB. */
    public void upload(MemorySegment src) {
        check(src.byteSize());
        long chunk = 256L << 20;
        for (long at = 0; at < src.byteSize(); at += chunk) {
            MemorySegment slice = src.asSlice(at, Math.min(chunk, src.byteSize() - at));
            ByteBuffer bb = slice.isNative() ? slice.asByteBuffer()
                    : ByteBuffer.allocateDirect((int) slice.byteSize()).put(slice.asByteBuffer()).flip();
            upload(bb, at);
        }
    }

    public void download(float[] dst, int count) {
        check(4L * count);
        ctx.makeCurrent();
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), ptr(), 4L * count);
    }

    public void download(int[] dst, int count) {
        check(4L * count);
        ctx.makeCurrent();
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), ptr(), 4L * count);
    }

    public void download(byte[] dst, int count) {
        check(count);
        ctx.makeCurrent();
        JCudaDriver.cuMemcpyDtoH(Pointer.to(dst), ptr(), count);
    }

    /** Sets every 32-bit word (bytes must be a multiple of 4 for the part that matters). */
    public void fill32(int word) {
        ctx.makeCurrent();
        JCudaDriver.cuMemsetD32(ptr(), word, bytes / 4);
    }

    public void fill8(byte value) {
        ctx.makeCurrent();
        JCudaDriver.cuMemsetD8(ptr(), value, bytes);
    }

    private void check(long n) {
        if (n > bytes) throw new IllegalArgumentException("copy of " + n + " bytes into a device buffer of " + bytes);
    }

    @Override
    public void close() {
        if (freed || parent != null) return;
        freed = true;
        ctx.makeCurrent();
        JCudaDriver.cuMemFree(ptr);
        ctx.memory().add(category, -bytes);
    }
}
