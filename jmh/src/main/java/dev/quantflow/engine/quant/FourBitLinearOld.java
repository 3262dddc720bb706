package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** FourBitLinear as it was before h-fast4 (one code per byte, each row decoded then chainDot), kept for QuantMatMulBenchmark's before/after pair. */
public final class FourBitLinearOld implements Linear {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));
    private final FourBitMatrix w;
    private final float[] bias;
    private final FloatVector[] table;
    private final float[] values;

    public FourBitLinearOld(FourBitMatrix w, float[] bias) {
        this.w = w;
        this.bias = bias;
        this.values = w.code().table();
        this.table = tableVectors(values);
    }

    public FourBitMatrix weights() {
        return w;
    }

    @Override
    public int inFeatures() {
        return w.cols();
    }

    @Override
    public int outFeatures() {
        return w.rows();
    }

    @Override
    public long weightBytes() {
        return w.packedBytes() + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return w.scheme().toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = w.rows(), in = w.cols();
        if (rows > 1) {   // the panel tile, summing each output as chainDot does (one segment of the whole row, 4L chains)
            int chains = 4 * VectorMath.F.length();
            PanelMatmul.forwardChained(out, out, in, (in + chains - 1) / chains * chains, chains, this::decodeRow, null, bias, x, rows, y);
            return;
        }
        Parallel.range(out, in, (start, end) -> {
            float[] row = new float[in];
            for (int o = start; o < end; o++) {
                decodeRow(o, row, 0);
                y[o] = (bias == null ? 0f : bias[o]) + PanelMatmul.chainDot(row, 0, x, 0, in);
            }
        });
    }

    /** Weight row o into dst[off..off + in). */
    private void decodeRow(int o, float[] dst, int off) {
        int in = w.cols(), bs = w.blockSize();
        long from = (long) o * in;
        for (int i = 0; i < in; ) {   // segments of the row cut at block boundaries
            int b = (int) ((from + i) / bs);
            int n = (int) Math.min(in - i, (long) (b + 1) * bs - (from + i));
            decode(table, values, w.q(), (int) (from + i), w.absmax(b), dst, off + i, n);
            i += n;
        }
    }

    /** The code values as vectors for {@link #decode}: 16 lanes (one vector) or two halves of 8. */
    static FloatVector[] tableVectors(float[] values16) {
        int L = F.length();
        if (L >= 16) {
            float[] t = new float[L];
            System.arraycopy(values16, 0, t, 0, 16);
            return new FloatVector[] {FloatVector.fromArray(F, t, 0)};
        }
        if (L == 8) return new FloatVector[] {FloatVector.fromArray(F, values16, 0), FloatVector.fromArray(F, values16, 8)};
        return new FloatVector[0];   // narrower vectors: the scalar path
    }

    /** dst[d + i] = values[codes[c + i]] * scale for n codes (0..15, one per byte). */
    static void decode(FloatVector[] table, float[] values16, byte[] codes, int c, float scale, float[] dst, int d, int n) {
        int L = F.length(), i = 0;
        if (table.length > 0) {
            for (; i <= n - L; i += L) {
                IntVector idx = (IntVector) ByteVector.fromArray(B, codes, c + i).convertShape(VectorOperators.B2I, I, 0);
                FloatVector v;
                if (table.length == 1) {
                    v = table[0].rearrange(idx.toShuffle().cast(F));
                } else {
                    VectorShuffle<Float> low = idx.and(7).toShuffle().cast(F);
                    v = table[0].rearrange(low).blend(table[1].rearrange(low), idx.compare(VectorOperators.GE, 8).cast(F));
                }
                v.mul(scale).intoArray(dst, d + i);
            }
        }
        for (; i < n; i++) dst[d + i] = values16[codes[c + i]] * scale;
    }
}
