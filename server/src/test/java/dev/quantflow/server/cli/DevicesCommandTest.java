package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.quantflow.engine.SharedData;
import dev.quantflow.gpu.CudaRuntime;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

class DevicesCommandTest {
    private static String[] run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = QuantflowCommand.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new String[] {String.valueOf(code), out.toString(), err.toString()};
    }

    @Test
    void listsTheCpuAndTheCudaCardsOrWhyThereAreNone() {
        String[] r = run("devices");
        assertThat(r[0]).isEqualTo("0");
        assertThat(r[1]).containsPattern("(?m)^cpu ");
        if (CudaRuntime.probe() instanceof CudaRuntime.Unavailable u) assertThat(r[1]).contains("cuda: unavailable: " + u.reason());
        else assertThat(r[1]).containsPattern("(?m)^cuda:0 .*compute capability");
    }

    /** Skipped, not passed, on a machine with a card (the GPU module's tests run it for real there). */
    private static void assumeNoCard() {
        assumeTrue(CudaRuntime.probe() instanceof CudaRuntime.Unavailable, "a CUDA card is available: nothing unavailable to report");
    }

    @Test
    void generateOnAnUnavailableDeviceIsOneClearLine() {
        assumeNoCard();
        String[] r = run("generate", "--model", SharedData.path("models/stories260K").toString(), "--devices", "cuda:0", "--quant", "llm-int8",
                "--max-tokens", "2");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2].strip()).startsWith("quantflow: cuda:0 is not available: ").doesNotContain("\n").doesNotContain("Exception");
    }

    @Test
    void twoStagesOnAnUnavailableCardAreOneClearLineToo() {
        assumeNoCard();
        String[] r = run("generate", "--model", SharedData.path("models/stories260K").toString(), "--devices", "cuda:0,cuda:0", "--stages", "2",
                "--max-tokens", "2");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2].strip()).startsWith("quantflow: cuda:0 is not available: ").doesNotContain("\n");
    }

    /** The engine accepts cuda:N (the GPU backend is in this build); the stage finds out at load that the card is missing, and says so. */
    @Test
    @Timeout(60)
    void servingOnAnUnavailableCardFailsAtLoadInOneLine() {
        assumeNoCard();
        CudaRuntime.Unavailable u = (CudaRuntime.Unavailable) CudaRuntime.probe();
        String[] r = run("serve", "--model", SharedData.path("models/stories260K").toString(), "--devices", "cuda:0", "--port", "0", "--grpc-port", "-1");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2].strip()).doesNotContain("\n")
                .startsWith("quantflow: stage 0 (layers 0-4 on cuda:0) failed to load: IllegalStateException: cuda:0 is not available: ")
                .contains(u.reason().substring(0, 20));
    }

    @Test
    void unknownDevicesAndSchemesAreUserErrors() {
        String model = SharedData.path("models/stories260K").toString();
        assertThat(run("generate", "--model", model, "--devices", "tpu:0")[2]).contains("unknown device 'tpu:0'");
        assertThat(run("generate", "--model", model, "--quant", "int3")[2]).contains("unknown quantization scheme 'int3'");
        assertThat(run("generate", "--model", model, "--stages", "9")[2]).contains("--stages must be between 1 and the 5 layers");
    }
}
