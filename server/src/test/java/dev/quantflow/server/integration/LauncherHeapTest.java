package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import com.sun.management.OperatingSystemMXBean;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** bin/quantflow starts the JVM with a heap limit sized by bin/quantflow-heap from the model and the machine. */
class LauncherHeapTest {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @TempDir
    Path tmp;

    record Out(int code, String out, String err) {}

    static Out heap(Map<String, String> env, String... args) {
        List<String> cmd = new ArrayList<>(List.of("bash", ROOT.resolve("bin/quantflow-heap").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().remove("QUANTFLOW_HEAP");
        pb.environment().remove("QUANTFLOW_MODEL");
        pb.environment().remove("QUANTFLOW_QUANT");
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            return new Out(p.exitValue(), out, err);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** The flag the launcher would give the JVM for this command line (ServeProcessTest runs the server under it). */
    static String heapFlag(String... args) {
        Out o = heap(Map.of(), args);
        assertThat(o.code()).as(o.err()).isZero();
        return o.out();
    }

    @Test
    void theLauncherPassesTheHeapFlag() throws IOException {
        String launcher = Files.readString(ROOT.resolve("bin/quantflow"));
        assertThat(launcher).contains("JVM_FLAGS+=(\"$(\"$HOME_DIR/bin/quantflow-heap\" \"$@\")\")");
        assertThat(Files.isExecutable(ROOT.resolve("bin/quantflow-heap"))).isTrue();
    }

    @Test
    void heapIsSizedFromTheModel() throws IOException {
        long machineMiB = ((OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize() >> 20;
        assumeThat(machineMiB).as("3/4 of the memory must not cap these sizes").isGreaterThan(4096);
        Path dense = ROOT.resolve("../shared/models/stories260K").normalize();
        assertThat(heapFlag("serve", "--model", dense.toString())).isEqualTo("-Xmx1024m");   // dense weights live outside the heap
        Path stored = tmp.resolve("q");
        Files.createDirectories(stored);
        Files.writeString(stored.resolve("config.json"), "{\"quantization_config\": {\"quant_method\": \"quantflow\"}}");
        try (RandomAccessFile f = new RandomAccessFile(stored.resolve("model.safetensors").toFile(), "rw")) {
            f.setLength(64L << 20);   // sparse: only its size counts
        }
        assertThat(heapFlag("serve", "--model", stored.toString())).isEqualTo("-Xmx1088m");   // int8/int4 weights on the heap
        assertThat(heapFlag("generate", "--model=" + stored)).isEqualTo("-Xmx1088m");
        Path plain = tmp.resolve("p");
        Files.createDirectories(plain);
        Files.writeString(plain.resolve("config.json"), "{}");
        Files.copy(stored.resolve("model.safetensors"), plain.resolve("model.safetensors"));
        assertThat(heapFlag("serve", "--model", plain.toString())).isEqualTo("-Xmx1024m");
        assertThat(heapFlag("serve", "--model", plain.toString(), "--quant", "w8a16")).isEqualTo("-Xmx1088m");
        assertThat(heap(Map.of("QUANTFLOW_MODEL", plain.toString(), "QUANTFLOW_QUANT", "llm-int8"), "serve").out()).isEqualTo("-Xmx1088m");
        assertThat(heapFlag("quantize", "--model", plain.toString(), "--out", "x")).isEqualTo("-Xmx1152m");   // fp32 copies while quantizing
        // a linked directory and linked shards (a Hugging Face cache snapshot) count the files' sizes: with the
        // links' sizes a 1.1B w8a16 load got -Xmx1024m and ran out of heap (bench/side-by-side-llamacpp.sh)
        Path linkedDir = Files.createSymbolicLink(tmp.resolve("linked"), plain);
        assertThat(heapFlag("serve", "--model", linkedDir.toString(), "--quant", "w8a16")).isEqualTo("-Xmx1088m");
        Path snapshot = tmp.resolve("snapshot");
        Files.createDirectories(snapshot);
        Files.writeString(snapshot.resolve("config.json"), "{}");
        Files.createSymbolicLink(snapshot.resolve("model.safetensors"), plain.resolve("model.safetensors"));
        assertThat(heapFlag("serve", "--model", snapshot.toString(), "--quant", "w8a16")).isEqualTo("-Xmx1088m");
    }

    @Test
    void quantflowHeapOverrides() {
        assertThat(heap(Map.of("QUANTFLOW_HEAP", "3g"), "serve").out()).isEqualTo("-Xmx3g");
        Out bad = heap(Map.of("QUANTFLOW_HEAP", "lots"), "serve");
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.err()).contains("QUANTFLOW_HEAP must be a size");
    }
}
