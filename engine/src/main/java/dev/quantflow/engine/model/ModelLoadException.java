package dev.quantflow.engine.model;

import java.nio.file.Path;

/** A model file that cannot be used; the message is one line naming the file and the problem. */
public final class ModelLoadException extends RuntimeException {
    public ModelLoadException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public ModelLoadException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
