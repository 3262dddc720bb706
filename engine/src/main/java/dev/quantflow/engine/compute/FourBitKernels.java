package dev.quantflow.engine.compute;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * 4-bit codebook (NF4, FP4) decode on the Vector API: the 16 code values sit in float vectors and each
 * lane's code selects its value by a lane permutation (one vpermps with 16 lanes; with 8 lanes two
 * halves and a blend), times the block's absmax.
 */
public final class FourBitKernels {
    private static final VectorSpecies<Float> F = Int8Kernels.F;
    private static final VectorSpecies<Integer> I = Int8Kernels.I;
    private static final VectorSpecies<Byte> B = Int8Kernels.B;

    private FourBitKernels() {}

    /** The code values as vectors for {@link #decode}: 16 lanes (one vector) or two halves of 8. */
    public static FloatVector[] tableVectors(float[] values16) {
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
    public static void decode(FloatVector[] table, float[] values16, byte[] codes, int c, float scale, float[] dst, int d, int n) {
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
