package dev.quantflow.ops;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Where the project's operations files are, seen from a test in the ops module. */
final class OpsPaths {
    private OpsPaths() {}

    /**
     * The JVM flags of bin/quantflow (its JVM_FLAGS array), with -Dquantflow.home pointing at this
     * checkout: the one list that the image and the tests' server processes are held to.
     */
    static List<String> launcherJvmFlags() throws IOException {
        String launcher = Files.readString(root().resolve("bin/quantflow"));
        Matcher m = Pattern.compile("JVM_FLAGS=\\(([^)]*)\\)", Pattern.DOTALL).matcher(launcher);
        if (!m.find()) throw new IllegalStateException("bin/quantflow defines no JVM_FLAGS=(...)");
        return Arrays.stream(m.group(1).trim().split("\\s+")).filter(s -> !s.isBlank())
                .map(s -> s.startsWith("-Dquantflow.home=") ? "-Dquantflow.home=" + root() : s).toList();
    }

    /** The repository root (Maven passes quantflow.root; from an IDE the module's parent). */
    static Path root() {
        String configured = System.getProperty("quantflow.root");
        Path root = configured != null ? Path.of(configured) : Path.of("").toAbsolutePath().getParent();
        if (!Files.isDirectory(root.resolve("k8s")) || !Files.isDirectory(root.resolve("grafana"))) {
            throw new IllegalStateException("not the Quantflow repository root (no k8s/ and grafana/): " + root);
        }
        return root;
    }

    static Path k8s() {
        return root().resolve("k8s");
    }

    static Path dashboard() {
        return root().resolve("grafana/dashboards/quantflow.json");
    }

    static Path prometheusRule() {
        return k8s().resolve("base/prometheusrule.yaml");
    }

    /** A fresh folder under ops/target for one test's files. */
    static Path workDir(String name) throws IOException {
        Path dir = root().resolve("ops/target/test-work").resolve(name);
        if (Files.exists(dir)) {
            try (var walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        return Files.createDirectories(dir);
    }
}
