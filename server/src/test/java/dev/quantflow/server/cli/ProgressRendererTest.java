package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Plain progress lines off a terminal (quiet, periodic, final) and a bar with ETA on one, on a test clock. */
class ProgressRendererTest {
    private static final long S = 1_000_000_000L;

    @Test
    void logLinesAreQuietForShortTasksThenPeriodicAndFinal() {
        AtomicLong now = new AtomicLong();
        List<String> lines = new ArrayList<>();
        ProgressRenderer r = new ProgressRenderer(lines::add, null, now::get, 2 * S);
        r.update("layers", 0, 4, "layers");
        now.set(S);
        r.update("layers", 4, 4, "layers");
        assertThat(lines).as("done within the quiet time").isEmpty();

        r.update("calibration tokens", 0, 1000, "tokens");
        now.addAndGet(3 * S);
        r.update("calibration tokens", 250, 1000, "tokens");
        now.addAndGet(S);
        r.update("calibration tokens", 500, 1000, "tokens");   // within 5 s of the last line: not shown
        now.addAndGet(5 * S);
        r.update("calibration tokens", 750, 1000, "tokens");
        now.addAndGet(S);
        r.update("calibration tokens", 1000, 1000, "tokens");
        assertThat(lines).containsExactly(
                "calibration tokens 250/1000 tokens (25%), 3.0 s, ETA 9.0 s",
                "calibration tokens 750/1000 tokens (75%), 9.0 s, ETA 3.0 s",
                "calibration tokens 1000/1000 tokens (100%), 10.0 s");
    }

    @Test
    void bytesAreShownInMiB() {
        assertThat(ProgressRenderer.describe("writing model.safetensors", 3L << 20, 12L << 20, "bytes", 2 * S, false))
                .isEqualTo("writing model.safetensors 3/12 MiB (25%), 2.0 s, ETA 6.0 s");
        assertThat(ProgressRenderer.describe("writing model.safetensors", 512L << 10, 1L << 20, "bytes", 2 * S, false))
                .isEqualTo("writing model.safetensors 512/1024 KiB (50%), 2.0 s, ETA 2.0 s");
        assertThat(ProgressRenderer.describe("download config.json", 700, 700, "bytes", S / 10, false))
                .isEqualTo("download config.json 700/700 B (100%), 0.1 s");
    }

    @Test
    void aTerminalGetsABarRedrawnInPlaceAndEndedWithANewline() {
        AtomicLong now = new AtomicLong();
        StringWriter tty = new StringWriter();
        List<String> lines = new ArrayList<>();
        ProgressRenderer r = new ProgressRenderer(lines::add, new PrintWriter(tty), now::get, 2 * S);
        r.update("stage 0: layers", 0, 4, "layers");
        now.set(S);
        r.update("stage 1: layers", 1, 2, "layers");
        now.set(2 * S);
        r.update("stage 0: layers", 2, 4, "layers");
        now.set(3 * S);
        r.update("stage 0: layers", 4, 4, "layers");
        String out = tty.toString();
        assertThat(lines).isEmpty();
        assertThat(out).startsWith("\r");
        assertThat(out).contains("stage 0: layers [############............] 2/4 layers (50%), 2.0 s, ETA 2.0 s | stage 1: layers [############............] 1/2 layers (50%)");
        assertThat(out).endsWith("\rstage 0: layers [########################] 4/4 layers (100%), 3.0 s\u001b[K\n");
    }
}
