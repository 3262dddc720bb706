package dev.quantflow.ops;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class UnitsTest {
    @Test
    void formatsGrafanaUnits() {
        assertThat(Units.format(0.0042, "s")).isEqualTo("4 ms");
        assertThat(Units.format(2.5, "s")).isEqualTo("2.50 s");
        assertThat(Units.format(0.00002, "s")).isEqualTo("20 µs");
        assertThat(Units.format(3 * 1024 * 1024, "bytes")).isEqualTo("3.0 MiB");
        assertThat(Units.format(0.125, "percentunit")).isEqualTo("12.5%");
        assertThat(Units.format(1500, "reqps")).isEqualTo("1.5k req/s");
        assertThat(Units.format(3.14159, "short")).isEqualTo("3.14");
    }
}
