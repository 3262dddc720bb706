package dev.quantflow.ops;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;

/** Where the project's operations files are, seen from a test in the ops module. */
final class OpsPaths {
    private OpsPaths() {}

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
