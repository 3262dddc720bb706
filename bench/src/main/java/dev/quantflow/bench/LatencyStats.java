package dev.quantflow.bench;

import java.util.Arrays;

/** Percentiles by nearest rank over a finished sample. */
public final class LatencyStats {
    private final double[] sorted;

    public LatencyStats(double[] values) {
        this.sorted = values.clone();
        Arrays.sort(sorted);
    }

    /** The p-th percentile (0 < p <= 100); NaN for an empty sample. */
    public double percentile(double p) {
        if (sorted.length == 0) return Double.NaN;
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    public int count() {
        return sorted.length;
    }
}
