package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.Int4x8Panels;
import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * GGUF Q4_0: blocks of 32 weights, 18 bytes, as ggml's block_q4_0:
 * <pre>
 * typedef struct {
 *     ggml_half d;       // scale
 *     uint8_t qs[16];    // nibbles: element j in the low nibble of qs[j], element j + 16 in its high nibble
 * } block_q4_0;          // w[j] = d * (q[j] - 8)
 * </pre>
 * Repacked at load into {@link Int4x8Panels}' layout (as llama.cpp repacks Q4_0 on x86): panels of
 * P rows, per block the rows' 16-bit units of qs transposed into lanes, then their P f16 scales;
 * the same 18 bytes per 32 weights (plus the zero rows of a last partial panel). The file's pages
 * are dropped from resident memory once packed. Activations are quantized to q8_0 as ggml's
 * vec_dot_q4_0_q8_0 meets them and every block's products are summed exactly in int16 lanes, so
 * each output is sum_b d_w d_x isum_b with isum_b ggml's integer block dot (whatever
 * quantflow.gguf.fp32-activations says: this kernel is integer only).
 */
public final class Q4_0Linear implements Linear {
    static final int BLOCK = 32, BYTES = 18;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int P = Int4x8Panels.P;

    private final int out, in, blocks;
    private final MemorySegment w;       // the panels, a kernel view
    private final MemorySegment owner;

    public Q4_0Linear(MemorySegment src, int outFeatures, int inFeatures) {
        if (outFeatures <= 0 || inFeatures <= 0) throw new IllegalArgumentException("shape " + outFeatures + "x" + inFeatures);
        if (inFeatures % BLOCK != 0)
            throw new IllegalArgumentException("Q4_0: row length " + inFeatures + " is not a multiple of the block size " + BLOCK);
        long rowBytes = (long) inFeatures / BLOCK * BYTES;
        if (src.byteSize() != rowBytes * outFeatures)
            throw new IllegalArgumentException("Q4_0: " + src.byteSize() + " bytes for " + outFeatures + "x" + inFeatures + ", expected " + rowBytes * outFeatures);
        this.out = outFeatures;
        this.in = inFeatures;
        this.blocks = inFeatures / BLOCK;
        int panels = Int4x8Panels.panels(out);
        long panelBytes = (long) blocks * Int4x8Panels.Q4_0_BLOCK_BYTES;
        KernelMemory.View v = KernelMemory.weights(panels * panelBytes);
        this.w = v.view();
        this.owner = v.owner();
        Parallel.range(panels, (long) P * in, (first, last) -> {
            short[] panel = new short[(int) (panelBytes / 2)];
            short[] row = new short[(int) (rowBytes / 2)];   // a block is 9 shorts: d, then qs as 8 little-endian uint16
            KernelMemory.Unloader read = new KernelMemory.Unloader(src, first * P * rowBytes);
            for (int p = first; p < last; p++) {
                Arrays.fill(panel, (short) 0);
                for (int j = 0; j < P && p * P + j < out; j++) {
                    MemorySegment.copy(src, I16, (long) (p * P + j) * rowBytes, row, 0, row.length);   // one bulk read per row (per-short gets made a 1.1B load ~20 s)
                    int lane = Int4x8Panels.lane(j);
                    for (int b = 0; b < blocks; b++) {
                        int base = b * Int4x8Panels.Q4_0_BLOCK_BYTES / 2;
                        for (int i = 0; i < 8; i++) panel[base + i * P + lane] = row[9 * b + 1 + i];
                        short d = row[9 * b];   // the f16 scale
                        if ((d & 0x7C00) == 0x7C00) throw new IllegalArgumentException("Q4_0: row " + (p * P + j) + " block " + b + " has a non-finite scale");
                        panel[base + 8 * P + j] = d;
                    }
                }
                MemorySegment.copy(panel, 0, w, I16, p * panelBytes, panel.length);
                read.readTo(Math.min((long) (p + 1) * P, out) * rowBytes);
            }
        });
        // packed: the file's pages go, all of them once more: unloading each panel's 36 KiB alone as it
        // was done left a third of a 1.1B Q4_0 file resident (199 MiB), as the kernel's fault-around
        // (64 KiB) mapped the pages of panels already dropped back in while it read the next ones
        if (src.isMapped()) src.unload();
    }

    @Override
    public void forward(float[] input, int rows, float[] y) {
        if (rows <= 0) return;
        byte[] q = new byte[rows * in];
        float[] d = new float[rows * blocks];
        Q8Activations.q8_0(input, rows, in, q, d);
        Int4x8Panels.Activations a = Int4x8Panels.Activations.of(q, rows, blocks);
        long panelBytes = (long) blocks * Int4x8Panels.Q4_0_BLOCK_BYTES;
        int panels = Int4x8Panels.panels(out);
        Parallel.range(panels, (long) P * in * rows, (first, last) -> {
            for (int p = first; p < last; p++)
                Int4x8Panels.q4_0(w, p * panelBytes, a, d, 0, rows, y, out, p * P, Math.min(P, out - p * P));
        });
    }

    @Override
    public int inFeatures() {
        return in;
    }

    @Override
    public int outFeatures() {
        return out;
    }

    /** The file's bytes of this tensor (the panels hold the same, plus the zero rows of a partial last panel). */
    @Override
    public long weightBytes() {
        return (long) out * blocks * BYTES;
    }

    @Override
    public String scheme() {
        return "Q4_0";
    }

    @Override
    public String toString() {
        return "Q4_0[" + out + "x" + in + "]";
    }
}
