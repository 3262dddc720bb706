package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The long commands report progress (log lines off a terminal; the quiet time is 0 here so small models show it too). */
class ProgressOutputTest {
    private static final String MODEL = SharedData.path("models/stories260K").toString();

    @TempDir
    Path tmp;

    @BeforeEach
    void noQuietTime() {
        System.setProperty("quantflow.progress.quiet", "0");
    }

    @AfterEach
    void restore() {
        System.clearProperty("quantflow.progress.quiet");
    }

    @Test
    void generateReportsTheLayersItLoads() {
        Cli.Result r = Cli.run("generate", "--model", MODEL, "--prompt", "Once", "--max-tokens", "2");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("quantflow: layers 0/6 layers (0%)").contains("quantflow: layers 6/6 layers (100%)");
    }

    @Test
    void quantizeReportsCalibrationScaleSearchLayersAndWriting() {
        Cli.Result r = Cli.run("quantize", "--model", MODEL, "--quant", "w4a16-awq", "--calib", SharedData.path("data/stories260K-calib.txt").toString(),
                "--calib-tokens", "256", "--out", tmp.resolve("q").toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("quantflow: calibration tokens 256/256 tokens (100%)").contains("quantflow: scale search")
                .contains("quantflow: layers 6/6 layers (100%)").containsPattern("quantflow: writing model.safetensors \\d+/\\d+ [KM]iB \\(100%\\)");
    }

    @Test
    void evalReportsTheTokensItScores() {
        Cli.Result r = Cli.run("eval", "--model", MODEL, "--quant", "w8a16", "--text", SharedData.path("data/stories260K-eval.txt").toString(),
                "--max-tokens", "64", "--speed-tokens", "0");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("quantflow: evaluated tokens 64/64 tokens (100%)");
    }

    @Test
    void synthModelReportsTheBytesItWrites() {
        Cli.Result r = Cli.run("synth-model", "--hidden", "64", "--layers", "1", "--heads", "4", "--intermediate", "96", "--vocab", "512",
                "--tokenizer", MODEL, "--out", tmp.resolve("s").toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).containsPattern("quantflow: writing model.safetensors \\d+/\\d+ [KM]iB \\(100%\\)");
    }
}
