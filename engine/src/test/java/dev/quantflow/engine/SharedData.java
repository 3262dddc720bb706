package dev.quantflow.engine;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates ../shared (models, tokenizers, reference outputs) for tests; the build passes its path. */
public final class SharedData {
    private SharedData() {}

    public static Path root() {
        String prop = System.getProperty("quantflow.shared");
        Path p = prop != null ? Path.of(prop) : Path.of("..", "shared");
        if (!Files.isDirectory(p)) p = Path.of("..", "..", "shared");
        if (!Files.isDirectory(p)) throw new IllegalStateException("shared data not found (set -Dquantflow.shared): " + p.toAbsolutePath());
        return p.toAbsolutePath().normalize();
    }

    public static Path path(String relative) {
        return root().resolve(relative);
    }
}
