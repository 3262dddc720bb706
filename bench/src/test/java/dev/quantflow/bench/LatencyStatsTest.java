package dev.quantflow.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LatencyStatsTest {
    @Test
    void nearestRankPercentiles() {
        LatencyStats s = new LatencyStats(new double[] {5, 1, 4, 2, 3, 6, 7, 8, 9, 10});
        assertThat(s.percentile(50)).isEqualTo(5);
        assertThat(s.percentile(99)).isEqualTo(10);
        assertThat(s.percentile(10)).isEqualTo(1);
        assertThat(new LatencyStats(new double[] {42}).percentile(99)).isEqualTo(42);
        assertThat(new LatencyStats(new double[0]).percentile(50)).isNaN();
    }
}
