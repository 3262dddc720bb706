package dev.quantflow.engine.quant;

import java.util.Arrays;

/**
 * The int32 packings of AutoGPTQ and AutoAWQ checkpoints for 4-bit weights, group size G:
 * <ul>
 * <li>GPTQ: qweight (in/8, out), eight consecutive input rows of W^T per int32, row i at bits
 * 4*(i%8); qzeros (groups, out/8), eight output channels per int32, stored as zero - 1 (the
 * v1 "gptq" checkpoint format); scales fp16 (groups, out); g_idx (in) the group of each input
 * column (act-order checkpoints permute it).</li>
 * <li>AWQ (GEMM): qweight (in, out/8) and qzeros (groups, out/8), eight output channels per int32
 * in the interleaved order 0,2,4,6,1,3,5,7; zero points stored as is; scales fp16 (groups, out).</li>
 * </ul>
 */
public final class AutoGptqFormat {
    static final int[] AWQ_ORDER = {0, 2, 4, 6, 1, 3, 5, 7};

    private AutoGptqFormat() {}

    /** A 4-bit layer in AutoGPTQ/AutoAWQ tensors (scales as floats; the file holds them as fp16). */
    public record Packed(int[] qweight, int[] qzeros, float[] scales, int[] gIdx, int in, int out, int groups) {}

    static void check(int in, int out) {
        if (in % 8 != 0 || out % 8 != 0)
            throw new IllegalArgumentException("AutoGPTQ/AutoAWQ packing needs in and out features divisible by 8, got " + in + "x" + out);
    }

    /** Packs unsigned int4 codes (out, in), scales/zeros (out, groups). */
    public static Packed packGptq(QuantizedMatrix m) {
        QuantizedMatrix u = Int4Packing.toUnsigned(m);
        int in = u.cols(), out = u.rows(), ng = u.groups();
        check(in, out);
        int[] qw = new int[in / 8 * out];
        for (int i = 0; i < in; i++) for (int o = 0; o < out; o++) qw[(i / 8) * out + o] |= (u.code(o, i) & 0xF) << (4 * (i % 8));
        int[] qz = new int[ng * out / 8];
        float[] sc = new float[ng * out];
        for (int g = 0; g < ng; g++)
            for (int o = 0; o < out; o++) {
                qz[g * out / 8 + o / 8] |= ((u.zero(o, g) - 1) & 0xF) << (4 * (o % 8));
                sc[g * out + o] = u.scale(o, g);
            }
        int[] gIdx = new int[in];
        for (int i = 0; i < in; i++) gIdx[i] = i / u.layout().groupSize();
        return new Packed(qw, qz, sc, gIdx, in, out, ng);
    }

    /**
     * Unpacks a GPTQ layer. With a g_idx that is not i / G (act-order), columns are reordered so
     * that each group is contiguous; the returned permutation says which input column each stored
     * column reads.
     */
    public static Unpacked unpackGptq(Packed p, int groupSize) {
        int in = p.in(), out = p.out();
        check(in, out);
        Integer[] order = new Integer[in];
        for (int i = 0; i < in; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Integer.compare(p.gIdx()[a], p.gIdx()[b]));   // stable: keeps column order within a group
        boolean identity = true;
        for (int i = 0; i < in; i++) identity &= order[i] == i && p.gIdx()[i] == i / groupSize;
        byte[] q = new byte[out * in];
        for (int k = 0; k < in; k++) {
            int i = order[k];
            for (int o = 0; o < out; o++) q[o * in + k] = (byte) ((p.qweight()[(i / 8) * out + o] >>> (4 * (i % 8))) & 0xF);
        }
        return new Unpacked(matrix(q, p, groupSize, false), identity ? null : Arrays.stream(order).mapToInt(Integer::intValue).toArray());
    }

    public record Unpacked(QuantizedMatrix weights, int[] permutation) {}

    public static Packed packAwq(QuantizedMatrix m) {
        QuantizedMatrix u = Int4Packing.toUnsigned(m);
        int in = u.cols(), out = u.rows(), ng = u.groups();
        check(in, out);
        int[] qw = new int[in * out / 8];
        for (int i = 0; i < in; i++)
            for (int o = 0; o < out; o += 8)
                for (int k = 0; k < 8; k++) qw[i * out / 8 + o / 8] |= (u.code(o + AWQ_ORDER[k], i) & 0xF) << (4 * k);
        int[] qz = new int[ng * out / 8];
        float[] sc = new float[ng * out];
        for (int g = 0; g < ng; g++)
            for (int o = 0; o < out; o += 8)
                for (int k = 0; k < 8; k++) {
                    qz[g * out / 8 + o / 8] |= (u.zero(o + AWQ_ORDER[k], g) & 0xF) << (4 * k);
                    sc[g * out + o + AWQ_ORDER[k]] = u.scale(o + AWQ_ORDER[k], g);
                }
        return new Packed(qw, qz, sc, null, in, out, ng);
    }

    public static QuantizedMatrix unpackAwq(Packed p, int groupSize) {
        int in = p.in(), out = p.out();
        check(in, out);
        byte[] q = new byte[out * in];
        for (int i = 0; i < in; i++)
            for (int o = 0; o < out; o += 8)
                for (int k = 0; k < 8; k++) q[(o + AWQ_ORDER[k]) * in + i] = (byte) ((p.qweight()[i * out / 8 + o / 8] >>> (4 * k)) & 0xF);
        return matrix(q, p, groupSize, true);
    }

    private static QuantizedMatrix matrix(byte[] q, Packed p, int groupSize, boolean awq) {
        int in = p.in(), out = p.out();
        GroupLayout layout = new GroupLayout(in, groupSize);
        if (layout.groups() != p.groups())
            throw new IllegalArgumentException("scales have " + p.groups() + " groups; group size " + groupSize + " over " + in + " columns gives " + layout.groups());
        int ng = p.groups();
        float[] scales = new float[out * ng];
        byte[] zeros = new byte[out * ng];
        for (int g = 0; g < ng; g++)
            for (int o = 0; o < out; o++) {
                scales[o * ng + g] = p.scales()[g * out + o];
                int word = p.qzeros()[g * out / 8 + o / 8];
                int z = awq ? (word >>> (4 * indexOf(o % 8))) & 0xF : ((word >>> (4 * (o % 8))) + 1) & 0xF;
                zeros[o * ng + g] = (byte) z;
            }
        return new QuantizedMatrix(IntRange.INT4_ASYM, out, in, layout, q, scales, zeros);
    }

    private static int indexOf(int channel) {
        for (int k = 0; k < 8; k++) if (AWQ_ORDER[k] == channel) return k;
        throw new IllegalStateException();
    }
}
