package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.compute.VectorMath;
import dev.quantflow.engine.model.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * W4A16: int4 weights with a scale and zero point per group of G input columns (RTN, GPTQ, AWQ
 * all produce this), activations fp32. In memory each row is cut into blocks of 32 columns held in
 * 16 bytes: byte j keeps column j in its low nibble and column j+16 in its high nibble, so one
 * 16-byte load yields two 16-float vectors. Rows are interleaved in groups of four, block by block
 * (the four rows' 16-byte blocks of columns 32b..32b+31 are one 64-byte line; a last group of
 * fewer rows likewise), so the four-row decode tile reads one stream instead of four (1.0-1.9x in
 * the alternated prototype of docs/BENCHMARKS.md "Decode kernels, second round"). Dequantization is fused into the dot product:
 * y = sum_g s_g * (sum_{i in g} q_i x_i - z_g * sum_{i in g} x_i).
 * An optional input permutation (GPTQ act-order checkpoints' g_idx) gathers x first.
 */
public final class Int4GroupLinear implements RowDecodable {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));
    /** The fused kernel takes a block's 16 bytes L at a time (L = 4, 8 or 16 float lanes). */
    private static final boolean FAST = L >= 8 && L <= 16;

    private final int out, in, padded, bytesPerRow;
    private final GroupLayout layout;
    private final byte[] packed;      // (out, padded/2) block layout, rows interleaved by four (offset())
    private final float[] scales;     // (out, groups)
    private final byte[] zeros;       // (out, groups), 0..15
    private final int[] perm;         // x column i of the stored order is input column perm[i]; null = identity
    private final float[] bias;
    private final String scheme;

    public Int4GroupLinear(QuantizedMatrix m, int[] perm, float[] bias, String scheme) {
        if (m.range().bits() != 4) throw new IllegalArgumentException("Int4GroupLinear needs int4 codes");
        QuantizedMatrix u = Int4Packing.toUnsigned(m);
        this(u.rows(), u.cols(), u.layout(), new byte[packedBytes(u.rows(), u.cols())], u.scales(), u.zeros(), perm, bias, scheme);
        byte[] q = u.q();
        Parallel.range(out, 2L * in, (first, last) -> {   // each row's bytes are its own
            for (int o = first; o < last; o++) packRow(q, o * in, o);
        });
    }

    private Int4GroupLinear(int out, int in, GroupLayout layout, byte[] packed, float[] scales, byte[] zeros, int[] perm, float[] bias, String scheme) {
        if (perm != null && perm.length != in) throw new IllegalArgumentException("input permutation has " + perm.length + " entries, expected " + in);
        if (packed.length != packedBytes(out, in) || scales.length != out * layout.groups() || zeros.length != scales.length)
            throw new IllegalArgumentException("int4 " + out + "x" + in + " needs " + packedBytes(out, in) + " packed bytes and " + out * layout.groups()
                    + " scales and zero points, got " + packed.length + ", " + scales.length + ", " + zeros.length);
        this.out = out;
        this.in = in;
        this.layout = layout;
        this.padded = (in + 31) / 32 * 32;
        this.bytesPerRow = padded / 2;
        this.packed = packed;
        this.scales = scales;
        this.zeros = zeros;
        this.perm = perm;
        this.bias = bias;
        this.scheme = scheme;
    }

    /**
     * Over bytes already in this class's layout (32-column blocks, rows interleaved by four), as a
     * quantize output stores them: adopted as they are (a stored model's load is a read, no re-pack).
     * zeros unsigned 0..15.
     */
    public static Int4GroupLinear ofPacked(int out, int in, GroupLayout layout, byte[] packed, float[] scales, byte[] zeros, int[] perm, float[] bias, String scheme) {
        return new Int4GroupLinear(out, in, layout, packed, scales, zeros, perm, bias, scheme);
    }

    /**
     * Round-to-nearest int4 of a stored (out, in) matrix, streamed: each thread widens, quantizes and
     * packs one row at a time into its own buffers, so neither an fp32 copy nor the one-byte codes of
     * the matrix are ever made (they were 0.9 GB of garbage over a 1.1B model's load).
     */
    public static Int4GroupLinear rtn(Tensor w, boolean symmetric, int groupSize, float[] bias, String scheme) {
        int out = w.rows(), in = w.cols();
        GroupLayout g = new GroupLayout(in, groupSize);
        Int4GroupLinear l = new Int4GroupLinear(out, in, g, new byte[packedBytes(out, in)], new float[out * g.groups()], new byte[out * g.groups()], null, bias, scheme);
        IntRange r = symmetric ? IntRange.INT4_SYM : IntRange.INT4_ASYM;
        QuantizedMatrix.quantizeRows(w, r, g, RangeMethod.MIN_MAX, l.scales, l.zeros, (row, codes) -> {
            if (symmetric) for (int i = 0; i < in; i++) codes[i] += 8;   // unsigned 0..15, zero point 8 (Int4Packing.toUnsigned)
            l.packRow(codes, 0, row);
        });
        if (symmetric) for (int i = 0; i < l.zeros.length; i++) l.zeros[i] += 8;
        return l;
    }

    /** Bytes of the packed form of an (out, in) matrix: rows padded to whole 32-column blocks of 16 bytes. */
    public static int packedBytes(int out, int in) {
        return out * ((in + 31) / 32 * 16);
    }

    /** Row o's unsigned codes q[from .. from + in) into the packed form, block by block (no div/mod per code: a load packs 1e9). */
    private void packRow(byte[] q, int from, int o) {
        for (int c0 = 0; c0 < in; c0 += 32) {
            int b = offset(o, c0 / 32), row = from + c0, lo = Math.min(16, in - c0), hi = Math.min(32, in - c0) - 16;
            for (int j = 0; j < lo; j++) packed[b + j] = (byte) (j < hi ? q[row + j] | q[row + 16 + j] << 4 : q[row + j]);
        }
    }

    /** Round-to-nearest int4 of weight (out, in), asymmetric, groups of groupSize. */
    public static Int4GroupLinear rtn(float[] weight, int out, int in, int groupSize, float[] bias, String scheme) {
        return new Int4GroupLinear(QuantizedMatrix.quantize(weight, out, in, IntRange.INT4_ASYM, groupSize, RangeMethod.MIN_MAX), null, bias, scheme);
    }

    /** The codes (unsigned, stored column order), scales and zero points. */
    public QuantizedMatrix weights() {
        byte[] q = new byte[out * in];
        for (int o = 0; o < out; o++) for (int c = 0; c < in; c++) q[o * in + c] = (byte) code(o, c);
        return new QuantizedMatrix(IntRange.INT4_ASYM, out, in, layout, q, scales, zeros);
    }

    // the packed form as it is, for W4A8Linear's int8-activation kernel over the same bytes
    byte[] packed() { return packed; }
    float[] scales() { return scales; }
    byte[] zeros() { return zeros; }
    GroupLayout layout() { return layout; }
    float[] bias() { return bias; }
    /** Columns per row in the packed form: in rounded up to whole 32-column blocks. */
    int paddedCols() { return padded; }
    /** Whether the vector kernels apply: 8-16 float lanes and groups of whole 32-column blocks (or one group). */
    boolean vectorizable() { return FAST && (layout.groupSize() % 32 == 0 || layout.groups() == 1); }

    public int[] permutation() {
        return perm == null ? null : perm.clone();
    }

    /** Where row o's 16-byte block blk starts: rows interleaved by four (the last group may have fewer). */
    int offset(int o, int blk) {
        int first = o / 4 * 4, n = Math.min(4, out - first);
        return first * bytesPerRow + blk * 16 * n + (o - first) * 16;
    }

    int code(int o, int c) {
        int j = c % 32;
        int b = packed[offset(o, c / 32) + (j % 16)] & 0xFF;
        return j < 16 ? b & 0xF : b >>> 4;
    }

    @Override
    public int inFeatures() {
        return in;
    }

    @Override
    public int outFeatures() {
        return out;
    }

    @Override
    public long weightBytes() {
        return packed.length + 4L * scales.length + zeros.length   // rows padded to whole 32-column blocks
                + (perm == null ? 0 : 4L * perm.length) + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return scheme;
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        float[] xs = gather(x, rows);
        if (vectorizable()) {
            decode(xs, rows, y);
            return;
        }
        // groups that split a 32-column block: the panel tile for every batch size, one row
        // included, so a row's output is the same alone and in a batch
        PanelMatmul.forward(out, in, padded, this::dequantizeRow, bias, xs, rows, y);
    }

    private float[] gather(float[] x, int rows) {
        if (perm == null) return x;
        float[] g = new float[rows * in];
        for (int r = 0; r < rows; r++) for (int i = 0; i < in; i++) g[r * in + i] = x[r * in + perm[i]];
        return g;
    }

    /** Row o of W in input-column order (an act-order permutation undone) into dst[off .. off + in). */
    @Override
    public void decodeRow(int o, float[] dst, int off) {
        float[] r = new float[padded];
        dequantizeRow(o, r, 0);
        if (perm == null) System.arraycopy(r, 0, dst, off, in);
        else for (int i = 0; i < in; i++) dst[off + perm[i]] = r[i];
    }

    /** Row o of W in stored column order, dequantized into dst (at least padded columns long when aligned). */
    public void dequantizeRow(int o, float[] dst) {
        dequantizeRow(o, dst, 0);
    }

    /** Row o into dst[dOff..]: the padded columns too when aligned (codes 0 there dequantize to -z*s, x is 0 there). */
    private void dequantizeRow(int o, float[] dst, int dOff) {
        int ng = layout.groups();
        if (FAST && dst.length - dOff >= padded && (layout.groupSize() % 32 == 0 || ng == 1)) {
            for (int blk = 0; blk < padded / 32; blk++) {
                int g = Math.min(ng - 1, blk * 32 / layout.groupSize()), at = offset(o, blk);
                float s = scales[o * ng + g], z = zeros[o * ng + g];
                for (int c = 0; c < 16; c += L) {
                    IntVector v = (IntVector) ByteVector.fromArray(B, packed, at + c).convertShape(VectorOperators.B2I, I, 0);
                    ((FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0)).sub(z).mul(s).intoArray(dst, dOff + blk * 32 + c);
                    ((FloatVector) v.lanewise(VectorOperators.ASHR, 4).and(0x0F).convert(VectorOperators.I2F, 0)).sub(z).mul(s).intoArray(dst, dOff + blk * 32 + 16 + c);
                }
            }
            return;
        }
        for (int g = 0; g < ng; g++) {
            float s = scales[o * ng + g];
            int z = zeros[o * ng + g];
            for (int c = layout.start(g); c < layout.end(g); c++) dst[dOff + c] = (code(o, c) - z) * s;
        }
    }

    /**
     * Groups of four interleaved weight rows against the activation rows two at a time: the fused
     * nibble-unpack + FMA kernel, each weight vector unpacked once for both rows and each
     * activation vector loaded once for four weight rows. Per group the codes' products with x
     * accumulate in one vector per (weight row, activation row), scaled into its total vector by
     * one FMA: lanes are reduced once per output, not once per group. The zero points are applied
     * per group as s * z * sum(x of the group), a scalar. decodeRows2 does for each of its two rows
     * exactly what decodeRows does for one, so an output's bits do not depend on the batch.
     * Threads take whole interleaved groups; within a thread, a band of groups (its weights in L2)
     * meets every activation row before the next band.
     */
    private void decode(float[] x, int rows, float[] y) {
        int ng = layout.groups();
        float[] xp = new float[rows * padded], xsum = new float[rows * ng];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(x, r * in, xp, r * padded, in);
            for (int g = 0; g < ng; g++) for (int c = layout.start(g); c < layout.end(g); c++) xsum[r * ng + g] += xp[r * padded + c];
        }
        int band = Math.max(1, BAND_BYTES / (4 * bytesPerRow));
        Parallel.range((out + 3) / 4, 4L * in * rows, (first, last) -> {
            float[] dots = new float[8], lanes = VectorMath.lanes(8);   // the totals' lanes, summed from memory
            for (int b0 = first; b0 < last; b0 += band)
                for (int r = 0; r < rows; r += 2)
                    for (int q = b0; q < Math.min(last, b0 + band); q++) {
                        int o = 4 * q, n = Math.min(4, out - o);
                        if (r + 1 < rows) decodeRows2(xp, r * padded, xsum, r * ng, o, n, dots, lanes);
                        else decodeRows(xp, r * padded, xsum, r * ng, o, n, dots, lanes);
                        for (int t = 0; t < Math.min(2, rows - r); t++)
                            for (int j = 0; j < n; j++) y[(r + t) * out + o + j] = (bias == null ? 0f : bias[o + j]) + dots[4 * t + j];
                    }
        });
    }

    /** Weight bytes of one band of decode's loop: a quarter of a Zen 4 / Sapphire Rapids core's L2. */
    private static final int BAND_BYTES = 256 << 10;

    /**
     * dots[j] = W row (o + j) . x[xo ..] for j < n <= 4, o a multiple of 4 (one interleaved group,
     * one stream of 16 * n bytes per block); missing rows repeat the last (computed, not stored).
     */
    private void decodeRows(float[] xp, int xo, float[] xsum, int so, int o, int n, float[] dots, float[] lanes) {
        int ng = layout.groups();
        int r0 = o, r1 = n > 1 ? o + 1 : r0, r2 = n > 2 ? o + 2 : r1, r3 = n > 3 ? o + 3 : r2;
        int base = o * bytesPerRow, step = 16 * n;
        int p0 = base, p1 = base + (r1 - o) * 16, p2 = base + (r2 - o) * 16, p3 = base + (r3 - o) * 16;
        FloatVector z = FloatVector.zero(F), t0 = z, t1 = z, t2 = z, t3 = z;
        float c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f;
        for (int g = 0; g < ng; g++) {
            int b0 = layout.start(g) / 32, b1 = (layout.end(g) + 31) / 32;
            FloatVector a0 = z, a1 = z, a2 = z, a3 = z;
            for (int blk = b0; blk < b1; blk++) {
                for (int c = 0; c < 16; c += L) {
                    int at = blk * step + c;
                    FloatVector xl = FloatVector.fromArray(F, xp, xo + blk * 32 + c), xh = FloatVector.fromArray(F, xp, xo + blk * 32 + 16 + c);
                    a0 = nibbles(p0 + at, xl, xh, a0);
                    a1 = nibbles(p1 + at, xl, xh, a1);
                    a2 = nibbles(p2 + at, xl, xh, a2);
                    a3 = nibbles(p3 + at, xl, xh, a3);
                }
            }
            float s0 = scales[r0 * ng + g], s1 = scales[r1 * ng + g], s2 = scales[r2 * ng + g], s3 = scales[r3 * ng + g];
            t0 = a0.fma(FloatVector.broadcast(F, s0), t0);
            t1 = a1.fma(FloatVector.broadcast(F, s1), t1);
            t2 = a2.fma(FloatVector.broadcast(F, s2), t2);
            t3 = a3.fma(FloatVector.broadcast(F, s3), t3);
            float xs = xsum[so + g];
            c0 += s0 * zeros[r0 * ng + g] * xs;
            c1 += s1 * zeros[r1 * ng + g] * xs;
            c2 += s2 * zeros[r2 * ng + g] * xs;
            c3 += s3 * zeros[r3 * ng + g] * xs;
        }
        t0.intoArray(lanes, 0 * L);
        t1.intoArray(lanes, 1 * L);
        t2.intoArray(lanes, 2 * L);
        t3.intoArray(lanes, 3 * L);
        dots[0] = VectorMath.sumLanes(lanes, 0) - c0;
        dots[1] = VectorMath.sumLanes(lanes, L) - c1;
        dots[2] = VectorMath.sumLanes(lanes, 2 * L) - c2;
        dots[3] = VectorMath.sumLanes(lanes, 3 * L) - c3;
    }

    /**
     * decodeRows for two activation rows, x[xo ..] and x[xo + padded ..] (xsum at so and so + ng):
     * dots[j] and dots[4 + j], each summed in decodeRows' order; the codes unpacked once for both.
     */
    private void decodeRows2(float[] xp, int xo, float[] xsum, int so, int o, int n, float[] dots, float[] lanes) {
        int ng = layout.groups(), yo = xo + padded;
        int r0 = o, r1 = n > 1 ? o + 1 : r0, r2 = n > 2 ? o + 2 : r1, r3 = n > 3 ? o + 3 : r2;
        int base = o * bytesPerRow, step = 16 * n;
        int p0 = base, p1 = base + (r1 - o) * 16, p2 = base + (r2 - o) * 16, p3 = base + (r3 - o) * 16;
        FloatVector z = FloatVector.zero(F), t0 = z, t1 = z, t2 = z, t3 = z, u0 = z, u1 = z, u2 = z, u3 = z;
        float c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f, d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f;
        for (int g = 0; g < ng; g++) {
            int b0 = layout.start(g) / 32, b1 = (layout.end(g) + 31) / 32;
            FloatVector a0 = z, a1 = z, a2 = z, a3 = z, e0 = z, e1 = z, e2 = z, e3 = z;
            for (int blk = b0; blk < b1; blk++) {
                for (int c = 0; c < 16; c += L) {
                    int at = blk * step + c;
                    FloatVector xl = FloatVector.fromArray(F, xp, xo + blk * 32 + c), xh = FloatVector.fromArray(F, xp, xo + blk * 32 + 16 + c);
                    FloatVector yl = FloatVector.fromArray(F, xp, yo + blk * 32 + c), yh = FloatVector.fromArray(F, xp, yo + blk * 32 + 16 + c);
                    // each row's two code vectors: written out per row (a helper returning a
                    // pair would box); a + hi * xh after a + lo * xl, as nibbles() sums
                    IntVector v = codes(p0 + at);
                    FloatVector lo = (FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0), hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0);
                    a0 = hi.fma(xh, lo.fma(xl, a0));
                    e0 = hi.fma(yh, lo.fma(yl, e0));
                    v = codes(p1 + at);
                    lo = (FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0);
                    hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0);
                    a1 = hi.fma(xh, lo.fma(xl, a1));
                    e1 = hi.fma(yh, lo.fma(yl, e1));
                    v = codes(p2 + at);
                    lo = (FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0);
                    hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0);
                    a2 = hi.fma(xh, lo.fma(xl, a2));
                    e2 = hi.fma(yh, lo.fma(yl, e2));
                    v = codes(p3 + at);
                    lo = (FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0);
                    hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0);
                    a3 = hi.fma(xh, lo.fma(xl, a3));
                    e3 = hi.fma(yh, lo.fma(yl, e3));
                }
            }
            float s0 = scales[r0 * ng + g], s1 = scales[r1 * ng + g], s2 = scales[r2 * ng + g], s3 = scales[r3 * ng + g];
            FloatVector v0 = FloatVector.broadcast(F, s0), v1 = FloatVector.broadcast(F, s1), v2 = FloatVector.broadcast(F, s2), v3 = FloatVector.broadcast(F, s3);
            t0 = a0.fma(v0, t0);
            t1 = a1.fma(v1, t1);
            t2 = a2.fma(v2, t2);
            t3 = a3.fma(v3, t3);
            u0 = e0.fma(v0, u0);
            u1 = e1.fma(v1, u1);
            u2 = e2.fma(v2, u2);
            u3 = e3.fma(v3, u3);
            float xs = xsum[so + g], ys = xsum[so + ng + g];
            float z0 = zeros[r0 * ng + g], z1 = zeros[r1 * ng + g], z2 = zeros[r2 * ng + g], z3 = zeros[r3 * ng + g];
            c0 += s0 * z0 * xs;
            c1 += s1 * z1 * xs;
            c2 += s2 * z2 * xs;
            c3 += s3 * z3 * xs;
            d0 += s0 * z0 * ys;
            d1 += s1 * z1 * ys;
            d2 += s2 * z2 * ys;
            d3 += s3 * z3 * ys;
        }
        t0.intoArray(lanes, 0 * L);
        t1.intoArray(lanes, 1 * L);
        t2.intoArray(lanes, 2 * L);
        t3.intoArray(lanes, 3 * L);
        u0.intoArray(lanes, 4 * L);
        u1.intoArray(lanes, 5 * L);
        u2.intoArray(lanes, 6 * L);
        u3.intoArray(lanes, 7 * L);
        dots[0] = VectorMath.sumLanes(lanes, 0) - c0;
        dots[1] = VectorMath.sumLanes(lanes, L) - c1;
        dots[2] = VectorMath.sumLanes(lanes, 2 * L) - c2;
        dots[3] = VectorMath.sumLanes(lanes, 3 * L) - c3;
        dots[4] = VectorMath.sumLanes(lanes, 4 * L) - d0;
        dots[5] = VectorMath.sumLanes(lanes, 5 * L) - d1;
        dots[6] = VectorMath.sumLanes(lanes, 6 * L) - d2;
        dots[7] = VectorMath.sumLanes(lanes, 7 * L) - d3;
    }

    /** L packed bytes at off, zero-extended to int lanes (so the high nibble is one shift; sign extension needs a shift and a mask). */
    private IntVector codes(int off) {
        return (IntVector) ByteVector.fromArray(B, packed, off).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
    }

    /** acc + low nibbles of L packed bytes at off times xl + their high nibbles times xh. */
    private FloatVector nibbles(int off, FloatVector xl, FloatVector xh, FloatVector acc) {
        IntVector v = codes(off);
        FloatVector lo = (FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0);
        FloatVector hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0);
        return hi.fma(xh, lo.fma(xl, acc));
    }
}
