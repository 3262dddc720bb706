package dev.quantflow.engine.compute;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Memory the Vector API kernels read, all of one kind: plain native segments of the global scope.
 *
 * <p>Why: C2 profiles the internals of FloatVector.fromMemorySegment once per JVM, not per
 * caller. When they have seen more than one segment kind (heap array, mapped file, arena
 * allocation, and their scopes), the loads stop being intrinsified and every kernel in the JVM
 * runs 6-15x slower (measured here: bf16 decode 15 -> 1.4 GFLOP/s per CPU-second after a heap
 * segment was used once). So mapped weights are re-viewed as plain native segments, heap weights
 * are copied off-heap, and the decode scratch is native too.
 */
final class KernelMemory {
    private KernelMemory() {}

    /** A kernel view of some memory and the segment that keeps that memory alive (hold both). */
    record View(MemorySegment view, MemorySegment owner) {
        /** False once the owner's arena was closed (the view must not be read then). */
        boolean alive() {
            return owner.scope().isAlive();
        }
    }

    /** seg as a global-scope native segment, copied off-heap first if it is on the heap. */
    static View uniform(MemorySegment seg) {
        MemorySegment owner = seg;
        if (!seg.isNative()) {
            owner = Arena.ofAuto().allocate(Math.max(1, seg.byteSize()), 64).asSlice(0, seg.byteSize());
            owner.copyFrom(seg);
        }
        return new View(MemorySegment.ofAddress(owner.address()).reinterpret(owner.byteSize()), owner);
    }

    private static final ThreadLocal<MemorySegment[]> SCRATCH = ThreadLocal.withInitial(() -> new MemorySegment[2]);

    /** A per-thread native scratch of at least bytes (slot 0: the view, slot 1: its owner). */
    static MemorySegment scratch(long bytes) {
        MemorySegment[] s = SCRATCH.get();
        if (s[0] == null || s[0].byteSize() < bytes) {
            s[1] = Arena.ofAuto().allocate(bytes, 64);
            s[0] = MemorySegment.ofAddress(s[1].address()).reinterpret(bytes);
        }
        return s[0];
    }

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
}
