package dev.quantflow.bench.jmh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** bench/run-jmh.sh passes its arguments to KernelReport: the informational ones must not run benchmarks. */
class KernelReportTest {
    @Test
    void helpPrintsJmhsOptionsAndRunsNothing() {
        String out = mainPrinting("-h");
        assertThat(out).contains("Usage:", "-wi <int>", "-p <param={v,}*>").doesNotContain("# Benchmark:");
    }

    @Test
    void listNamesTheBenchmarksAndRunsNothing() {
        String out = mainPrinting("-l");
        assertThat(out).contains("MatVecBenchmark", "MemoryBandwidthBenchmark").doesNotContain("# Benchmark:");
    }

    /** Runs main with stdout captured; a run of the benchmarks would take minutes, so it times out. */
    private static String mainPrinting(String... args) {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(30), () -> KernelReport.main(args));
        } finally {
            System.setOut(original);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }
}
