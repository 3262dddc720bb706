package dev.quantflow.engine.compute;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;

/**
 * Memory the Vector API kernels read, all of one kind: plain native segments of the global scope.
 *
 * <p>Why: C2 profiles the internals of FloatVector.fromMemorySegment once per JVM, not per
 * caller. When they have seen more than one segment kind (heap array, mapped file, arena
 * allocation, and their scopes), the loads stop being intrinsified and every kernel in the JVM
 * runs 6-15x slower (measured here: bf16 decode 15 -> 1.4 GFLOP/s per CPU-second after a heap
 * segment was used once). So dense weights are packed into native memory (weights()) whatever
 * they came from, and the decode scratch is native too.
 */
public final class KernelMemory {
    private KernelMemory() {}

    /** A kernel view of some memory and the segment that keeps that memory alive (hold both). */
    public record View(MemorySegment view, MemorySegment owner) {
        /** The global-scope view of owner's first bytes. */
        static View of(MemorySegment owner, long bytes) {
            return new View(MemorySegment.ofAddress(owner.address()).reinterpret(bytes), owner);
        }
    }

    /**
     * A kernel view of bytes that kernels read in place (e.g. a GGUF tensor in its file's mapping):
     * native memory is viewed where it is (the caller keeps it mapped as long as the view is read),
     * heap memory is copied once into {@link #weights} memory.
     */
    public static View of(MemorySegment bytes) {
        if (bytes.isNative()) return View.of(bytes, bytes.byteSize());
        View copy = weights(bytes.byteSize());
        MemorySegment.copy(bytes, 0, copy.view(), 0, bytes.byteSize());
        return copy;
    }

    private static final long HUGE_PAGE = 2L << 20;
    private static final int MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15;   // Linux
    private static final MethodHandle POSIX_MEMALIGN, MADVISE, FREE;

    static {
        MethodHandle memalign = null, madvise = null, free = null;
        try {
            Linker linker = Linker.nativeLinker();
            var libc = linker.defaultLookup();
            memalign = linker.downcallHandle(libc.find("posix_memalign").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
            madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            free = linker.downcallHandle(libc.find("free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        } catch (RuntimeException | LinkageError e) {
            memalign = madvise = free = null;   // not a libc platform: weights() falls back to a zeroed arena allocation
        }
        POSIX_MEMALIGN = memalign;
        MADVISE = madvise;
        FREE = free;
    }

    /**
     * Native memory for packed weights that the caller fills completely: 2 MiB-aligned, advised
     * to the kernel as huge-page memory, and not zeroed first. Why: an arena allocation zero-fills,
     * and on this VM zero-filling a 1.1B model's 4.4 GB of fresh 4 KiB pages took most of the load
     * time (page faults); huge pages cut the faults 512-fold and the TLB misses of the weight stream.
     * Only the whole huge pages are advised: the tail past the last one stays in 4 KiB pages, since
     * a huge page is resident in full once touched and a partly used last one per tensor cost a
     * 1.1B Q4_0 model 196 MiB of RSS (1.75 MiB each for q/o_proj's 2.25 MiB, 1.81 for the MLP's).
     * Freed when the view's owner becomes unreachable.
     */
    public static View weights(long bytes) {
        if (POSIX_MEMALIGN == null || bytes < HUGE_PAGE) {
            return View.of(Arena.ofAuto().allocate(Math.max(1, bytes), 64), bytes);
        }
        try (Arena call = Arena.ofConfined()) {
            MemorySegment out = call.allocate(ValueLayout.ADDRESS);
            int rc = (int) POSIX_MEMALIGN.invokeExact(out, HUGE_PAGE, bytes);
            if (rc != 0) throw new OutOfMemoryError("posix_memalign of " + bytes + " bytes for weights failed: error " + rc);
            MemorySegment base = out.get(ValueLayout.ADDRESS, 0);
            long whole = bytes / HUGE_PAGE * HUGE_PAGE;
            int ignored = (int) MADVISE.invokeExact(base, whole, MADV_HUGEPAGE);   // best effort: THP may be off
            if (whole < bytes) ignored = (int) MADVISE.invokeExact(MemorySegment.ofAddress(base.address() + whole), bytes - whole, MADV_NOHUGEPAGE);   // THP "always" too
            return View.of(base.reinterpret(bytes, Arena.ofAuto(), KernelMemory::free), bytes);
        } catch (Error | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("native allocation of weights failed", t);
        }
    }

    /**
     * Drops the pages of a mapped source from resident memory in steps of 4 MiB as one thread
     * reads it front to back, so that a tensor being packed is not resident twice (a 1.1B Q8_0
     * model's 66 MiB lm_head was, at the end of the load: its peak RSS). Nothing for other memory.
     * The packer unloads the whole source once done: the kernel's fault-around maps pages of a
     * dropped step back in when the next ones are read.
     */
    public static final class Unloader {
        private static final long STEP = 4L << 20;
        private final MemorySegment src;
        private long from;

        /** A reader of src from byte from on. */
        public Unloader(MemorySegment src, long from) {
            this.src = src;
            this.from = from;
        }

        /** Bytes up to end have been read. */
        public void readTo(long end) {
            if (src.isMapped() && end - from >= STEP) {
                src.asSlice(from, end - from).unload();
                from = end;
            }
        }
    }

    private static void free(MemorySegment seg) {
        try {
            FREE.invokeExact(seg);
        } catch (Throwable t) {
            // a cleanup action must not throw; leaking one block is the lesser harm
        }
    }

    private static final ThreadLocal<MemorySegment[]> SCRATCH = ThreadLocal.withInitial(() -> new MemorySegment[2]);

    /** A per-thread native scratch of at least bytes (slot 0: the view, slot 1: its owner). */
    static MemorySegment scratch(long bytes) {
        MemorySegment[] s = SCRATCH.get();
        if (s[0] == null || s[0].byteSize() < bytes) {
            View v = View.of(Arena.ofAuto().allocate(bytes, 64), bytes);
            s[0] = v.view();
            s[1] = v.owner();
        }
        return s[0];
    }

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
}
