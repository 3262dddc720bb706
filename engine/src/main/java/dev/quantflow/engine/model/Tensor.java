package dev.quantflow.engine.model;

import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.TensorDecoder;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * A stored tensor: a typed, shaped view over (usually memory-mapped) bytes. Row-major; for a
 * linear layer's weight the shape is (out_features, in_features) as Hugging Face stores it. A
 * block-quantized GGUF tensor (Q8_0, ...) is read by whole blocks: readFloats of a row.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.length() * 16));

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public int rows() {
        return (int) shape[0];
    }

    public int cols() {
        return shape.length == 1 ? 1 : (int) (numel() / shape[0]);
    }

    /** Element i converted to float (F32, F16, BF16, F64, I8, I32, F8_E4M3, F8_E5M2). */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.get(F32_LE, i * 4);
            case BF16 -> Float.intBitsToFloat((data.get(I16_LE, i * 2) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(data.get(I16_LE, i * 2));
            case F64 -> (float) data.get(ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i * 8);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case I32 -> data.get(I32_LE, i * 4);
            case F8_E4M3, F8_E5M2 -> Fp8Format.of(dtype).decode(data.get(ValueLayout.JAVA_BYTE, i));
            default -> throw new UnsupportedOperationException(name + ": cannot read " + dtype + " as float");
        };
    }

    /** Copies elements [from, from+n) as floats into dst[off..] (whole blocks of a block type, e.g. one row). */
    public void readFloats(long from, float[] dst, int off, int n) {
        if (dtype.isBlockQuantized()) {
            TensorDecoder.decode(GgmlType.valueOf(dtype.name()), data, from, dst, off, n);
            return;
        }
        if (dtype == DType.F32) {
            MemorySegment.copy(data, F32_LE, from * 4, dst, off, n);
            return;
        }
        if (dtype == DType.BF16) {   // widened in registers: a model quantized at load reads all its weights through here
            decodeBf16(data, from * 2, dst, off, n);
            return;
        }
        for (int i = 0; i < n; i++) dst[off + i] = getFloat(from + i);
    }

    /** All native memory as one global-scope segment, made once: reinterpret per call checked native access each time (9 % of a load's samples). */
    private static final MemorySegment NATIVE = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    /**
     * Decodes n BF16 values at byte offset byteOff of src into dst[off..off+n), in vector lanes. The
     * one BF16-to-float[] decoder (compute.VectorMath.decodeBF16 calls it). The shift is called on an
     * IntVector, never on the Vector that convertShape returns (see VectorMath.bf16 for the C2 crash).
     *
     * <p>The lanes are loaded from one segment kind only, a global-scope native view, as
     * compute.KernelMemory's are: C2 profiles ShortVector.fromMemorySegment once per JVM, and a
     * mapped file's segment (a model quantized at load reads every weight here) or a heap one seen
     * there once stopped the intrinsic for every BF16 kernel (lm_head's panels, BF16 decode): their
     * loads ran in the Vector API's Java fallback, GBs of boxed vectors during a 1.1B decode.
     * Heap bytes go through a short[] (ShortVector.fromArray) instead.
     */
    public static void decodeBf16(MemorySegment src, long byteOff, float[] dst, int off, int n) {
        if (!src.isNative()) {
            decodeBf16Heap(src, byteOff, dst, off, n);
            return;
        }
        if (n == 0) return;
        // the view skips the segment's checks: one access through src makes them (bounds, closed, owner thread)
        src.get(ValueLayout.JAVA_BYTE, byteOff);
        src.get(ValueLayout.JAVA_BYTE, byteOff + 2L * n - 1);
        long at = src.address() + byteOff;
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L) {
            IntVector wide = (IntVector) ShortVector.fromMemorySegment(S, NATIVE, at + 2L * i, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.S2I, I, 0);
            wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, off + i);
        }
        for (; i < n; i++) dst[off + i] = Float.intBitsToFloat((NATIVE.get(I16_LE, at + 2L * i) & 0xFFFF) << 16);
    }

    private static void decodeBf16Heap(MemorySegment src, long byteOff, float[] dst, int off, int n) {
        int L = F.length();
        short[] chunk = new short[Math.min(n, 1024)];
        for (int done = 0; done < n; ) {
            int m = Math.min(chunk.length, n - done), i = 0;
            MemorySegment.copy(src, I16_LE, byteOff + 2L * done, chunk, 0, m);
            for (; i <= m - L; i += L) {
                IntVector wide = (IntVector) ShortVector.fromArray(S, chunk, i).convertShape(VectorOperators.S2I, I, 0);
                wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, off + done + i);
            }
            for (; i < m; i++) dst[off + done + i] = Float.intBitsToFloat((chunk[i] & 0xFFFF) << 16);
            done += m;
        }
    }

    /**
     * Drops the mapped pages of rows [first, first + n) of a 2-D tensor from this process's resident
     * memory (they fault back in if read again); nothing for heap memory or block types. For a
     * reader that is done with those rows: a 1.1B model's bf16 lm_head (131 MB) was resident twice,
     * as mapped pages and as its packed copy, at the end of the load (the peak RSS).
     */
    public void unloadRows(long first, long n) {
        if (!data.isMapped() || dtype.isBlockQuantized() || n <= 0) return;
        long rowBytes = (long) cols() * dtype.bytes;
        data.asSlice(first * rowBytes, n * rowBytes).unload();
    }

    /** The whole tensor as a heap float array (small tensors only: norms, biases). */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException(name + " too large for a heap array");
        float[] out = new float[(int) n];
        readFloats(0, out, 0, out.length);
        return out;
    }

    public int[] toIntArray() {
        if (dtype != DType.I32) throw new IllegalStateException(name + " is " + dtype + ", not I32");
        int[] out = new int[(int) numel()];
        MemorySegment.copy(data, I32_LE, 0, out, 0, out.length);
        return out;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
