package dev.quantflow.engine.compute;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The array form of sumLanes is the vector form's tree, bit for bit, and agrees with a float64 sum. */
class VectorMathSumLanesTest {
    @Test
    void theArrayFormSumsTheLanesInTheVectorFormsOrder() {
        Random rnd = new Random(5);
        int n = FloatVector.SPECIES_PREFERRED.length();
        for (int trial = 0; trial < 10_000; trial++) {
            float[] v = new float[n + 3], a = new float[n + 3];
            double exact = 0;
            for (int i = 0; i < n; i++) {   // wide exponent range, so the order shows in the rounding
                v[3 + i] = (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(40) - 20));
                exact += v[3 + i];
            }
            System.arraycopy(v, 0, a, 0, v.length);
            float vector = VectorMath.sumLanes(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, v, 3));
            float array = VectorMath.sumLanes(a, 3);
            assertThat(Float.floatToRawIntBits(array)).as("trial %d", trial).isEqualTo(Float.floatToRawIntBits(vector));
            double scale = 0;
            for (int i = 0; i < n; i++) scale += Math.abs(v[3 + i]);
            assertThat((double) array).isCloseTo(exact, org.assertj.core.data.Offset.offset(1e-6 * scale + 1e-30));
        }
    }
}
