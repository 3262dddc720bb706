package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The attention's score and weighted-sum kernels against float64 and the plain axpy loop, on odd sizes and scattered rows. */
class AttentionKernelsTest {
    private static float[] randoms(int n, SplittableRandom rnd) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    /** n distinct row offsets into a store of `slots` rows of `stride` floats, in random order. */
    private static int[] scatteredRows(int n, int slots, int stride, SplittableRandom rnd) {
        int[] perm = new int[slots];
        for (int i = 0; i < slots; i++) perm[i] = i;
        for (int i = slots - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int[] rows = new int[n];
        for (int t = 0; t < n; t++) rows[t] = perm[t] * stride;
        return rows;
    }

    @Test
    void dotRowsMatchesFloat64() {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int dims : new int[] {3, 8, 48, 64, 70, 128}) {
            for (int n : new int[] {1, 3, 4, 5, 17}) {
                int stride = 2 * dims + 5, add = dims + 1;   // two heads per row, second head's offset
                float[] k = randoms(40 * stride, rnd), q = randoms(dims + 2, rnd), scores = new float[n];
                int[] rows = scatteredRows(n, 40, stride, rnd);
                VectorMath.dotRows(q, 2, k, rows, add, n, dims, 0.125f, scores);
                for (int t = 0; t < n; t++) {
                    double ref = 0, mag = 0;
                    for (int d = 0; d < dims; d++) {
                        ref += (double) q[2 + d] * k[rows[t] + add + d];
                        mag += Math.abs((double) q[2 + d] * k[rows[t] + add + d]);
                    }
                    assertThat((double) scores[t]).as("dims %d n %d t %d", dims, n, t).isCloseTo(ref * 0.125, within(mag * 0.125 * 1e-6 + 1e-9));
                }
            }
        }
    }

    @Test
    void weightedRowsEqualsAxpyIntoZerosBitForBit() {
        SplittableRandom rnd = new SplittableRandom(2);
        for (int dims : new int[] {3, 8, 48, 64, 70, 128}) {
            for (int n : new int[] {1, 2, 9, 33}) {
                int stride = dims + 3;
                float[] v = randoms(50 * stride, rnd), w = randoms(n, rnd);
                int[] rows = scatteredRows(n, 50, stride, rnd);
                float[] fast = new float[dims + 4], plain = new float[dims + 4];
                VectorMath.weightedRows(fast, 4, w, n, v, rows, 1, dims);
                for (int t = 0; t < n; t++) VectorMath.axpy(plain, 4, w[t], v, rows[t] + 1, dims);
                assertThat(fast).as("dims %d n %d", dims, n).containsExactly(plain);
            }
        }
    }
}
