package dev.quantflow.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.quantflow.gpu.backend.CudaBackend;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The jar's compiled kernels match what the Java side launches (Kernel), in both directions. */
class KernelResourcesTest {
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(");

    /** Set by the Maven profile that ran nvcc (active when nvcc is installed). */
    static boolean nvccInstalled() {
        return "built".equals(System.getProperty("quantflow.kernels"));
    }

    @Test
    void aBuildWithoutNvccSaysSoInsteadOfFailingLater() {
        assumeTrue("absent".equals(System.getProperty("quantflow.kernels")), "this build compiled the kernels");
        assertThat(KernelResources.missing()).hasValueSatisfying(reason -> assertThat(reason).contains("without nvcc"));
        assertThat(new CudaBackend().unavailableReason()).isPresent();
    }

    @Test
    void everyCudaSourceIsAModuleTheJavaSideKnows() throws IOException {
        Set<String> sources;
        try (Stream<Path> files = Files.list(Path.of("src/main/cuda"))) {
            sources = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).map(n -> n.substring(0, n.length() - 3))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
        assertThat(sources).isEqualTo(KernelResources.modules());
    }

    @Test
    void ptxDefinesAnEntryForEveryKernelLaunchedAndNoOthers() {
        assumeTrue(nvccInstalled(), "nvcc not installed: this build has no kernels");
        for (String module : KernelResources.modules()) {
            String ptx = KernelResources.ptx(module).orElseThrow(() -> new AssertionError("cuda/" + module + ".ptx missing though nvcc is installed"));
            assertThat(ptx).contains(".target sm_80");
            Set<String> entries = new TreeSet<>();
            Matcher m = ENTRY.matcher(ptx);
            while (m.find()) entries.add(m.group(1));
            Set<String> expected = Arrays.stream(Kernel.values()).filter(k -> k.module.equals(module)).map(k -> k.entry)
                    .collect(Collectors.toCollection(TreeSet::new));
            assertThat(entries).as("entries of " + module + ".ptx").isEqualTo(expected);
            assertThat(KernelResources.image(module)).as(module + ".fatbin").isPresent();
        }
        assertThat(KernelResources.missing()).isEmpty();
    }

    @Test
    void fatbinIsPreferredAndHoldsHopperCode() {
        assumeTrue(nvccInstalled(), "nvcc not installed: this build has no kernels");
        byte[] image = KernelResources.image("llm_int8").orElseThrow();
        // a fatbin starts with its magic 0xBA55ED50 (little-endian), not with PTX text
        assertThat(image[0] & 0xff).isEqualTo(0x50);
        assertThat(image[3] & 0xff).isEqualTo(0xba);
        assertThat(new String(image, StandardCharsets.ISO_8859_1)).contains("sm_90");
    }

    @Test
    void ptasReportsShowNoSpills() throws IOException {
        assumeTrue(nvccInstalled(), "nvcc not installed: this build has no kernels");
        for (String module : KernelResources.modules()) {
            String report = Files.readString(Path.of("target/ptxas-" + module + ".txt"));
            assertThat(report).as("ptxas -v of " + module).contains("Used").doesNotContainPattern("[1-9]\\d* bytes spill (stores|loads)");
        }
    }
}
