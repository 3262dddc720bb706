package dev.quantflow.engine.quant;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * How the clipping range of a set of values is chosen: their min and max; a percentile of their
 * magnitudes (outliers clipped); or the range, shrunk from min-max on a grid, whose quantization
 * has the least squared error.
 */
public sealed interface RangeMethod {
    /** [lo, hi] for values[from, to) on the grid r. */
    float[] range(float[] values, int from, int to, IntRange r);

    RangeMethod MIN_MAX = new MinMax();

    record MinMax() implements RangeMethod {
        private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

        @Override
        public float[] range(float[] v, int from, int to, IntRange r) {
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            int i = from;
            if (to - from >= 2 * F.length()) {   // in lanes (quantizing a model at load takes every weight's range)
                FloatVector vlo = FloatVector.broadcast(F, lo), vhi = FloatVector.broadcast(F, hi);
                for (; i <= to - F.length(); i += F.length()) {
                    FloatVector x = FloatVector.fromArray(F, v, i);
                    vlo = vlo.min(x);
                    vhi = vhi.max(x);
                }
                lo = vlo.reduceLanes(VectorOperators.MIN);
                hi = vhi.reduceLanes(VectorOperators.MAX);
            }
            for (; i < to; i++) {
                lo = Math.min(lo, v[i]);
                hi = Math.max(hi, v[i]);
            }
            return new float[] {lo, hi};
        }
    }

    /** Clips at the p-th percentile (0 < p <= 100) of |v| (symmetric) or of v at both tails. */
    record Percentile(double p) implements RangeMethod {
        public Percentile {
            if (!(p > 0 && p <= 100)) throw new IllegalArgumentException("percentile must be in (0, 100], got " + p);
        }

        @Override
        public float[] range(float[] v, int from, int to, IntRange r) {
            float[] s = Arrays.copyOfRange(v, from, to);
            if (r.symmetric()) {
                for (int i = 0; i < s.length; i++) s[i] = Math.abs(s[i]);
                Arrays.sort(s);
                float m = at(s, p);
                return new float[] {-m, m};
            }
            Arrays.sort(s);
            return new float[] {at(s, 100 - p), at(s, p)};
        }

        private static float at(float[] sorted, double pct) {
            int i = (int) Math.ceil(pct / 100.0 * sorted.length) - 1;
            return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
        }
    }

    /** Tries ranges min-max * (1 - k/steps) for k < steps*maxShrink and keeps the lowest squared error. */
    record MseSearch(int steps, double maxShrink) implements RangeMethod {
        public static final MseSearch DEFAULT = new MseSearch(100, 0.8);

        @Override
        public float[] range(float[] v, int from, int to, IntRange r) {
            float[] full = MIN_MAX.range(v, from, to, r);
            float[] best = full;
            double bestErr = Double.POSITIVE_INFINITY;
            for (int k = 0; k < steps * maxShrink; k++) {
                float f = 1f - (float) k / steps;
                float lo = full[0] * f, hi = full[1] * f;
                IntRange.QParams p = r.params(lo, hi);
                double err = 0;
                for (int i = from; i < to; i++) {
                    double d = r.dequantize(r.quantize(v[i], p), p) - v[i];
                    err += d * d;
                }
                if (err < bestErr) {
                    bestErr = err;
                    best = new float[] {lo, hi};
                }
            }
            return best;
        }
    }

    static RangeMethod parse(String s) {
        if (s.equals("minmax")) return MIN_MAX;
        if (s.equals("mse")) return MseSearch.DEFAULT;
        if (s.startsWith("p")) {
            try {
                return new Percentile(Double.parseDouble(s.substring(1)));
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
        }
        throw new IllegalArgumentException("range must be minmax, mse or pNN (e.g. p99.9), got '" + s + "'");
    }
}
