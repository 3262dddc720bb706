package dev.quantflow.server.cli;

import dev.quantflow.engine.gguf.GgufFile;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** --model DIR|FILE.gguf, defaulting to $QUANTFLOW_MODEL, else ../shared/models/stories260K beside the project. */
public final class ModelOption {
    @Option(names = "--model", paramLabel = "DIR|FILE.gguf", description = "Hugging Face model directory or GGUF file (default: $QUANTFLOW_MODEL or ../shared/models/stories260K)")
    Path model;

    public Path dir() {
        if (model != null) return checked(model);
        String env = System.getenv("QUANTFLOW_MODEL");
        if (env != null && !env.isBlank()) return Path.of(env);
        String home = System.getProperty("quantflow.home", System.getenv().getOrDefault("QUANTFLOW_HOME", "."));
        Path def = Path.of(home).resolve("../shared/models/stories260K").normalize();
        if (!Files.isDirectory(def)) throw new QuantflowCommand.UserError("no --model given and the default " + def + " does not exist");
        return def;
    }

    /** model if it is a Hugging Face model directory or a GGUF file; else a UserError saying which it is not. */
    static Path checked(Path model) {
        if (Files.isRegularFile(model)) {
            if (!GgufFile.isGguf(model)) throw new QuantflowCommand.UserError(model + ": not a GGUF file (give a GGUF file or a Hugging Face model directory)");
            return model;
        }
        if (!Files.isDirectory(model)) throw new QuantflowCommand.UserError(model + ": model directory does not exist");
        return model;
    }
}
