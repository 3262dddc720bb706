package dev.quantflow.server.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** --model DIR, defaulting to $QUANTFLOW_MODEL, else ../shared/models/stories260K beside the project. */
public final class ModelOption {
    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: $QUANTFLOW_MODEL or ../shared/models/stories260K)")
    Path model;

    public Path dir() {
        if (model != null) {
            if (!Files.isDirectory(model)) throw new QuantflowCommand.UserError(model + ": model directory does not exist");
            return model;
        }
        String env = System.getenv("QUANTFLOW_MODEL");
        if (env != null && !env.isBlank()) return Path.of(env);
        String home = System.getProperty("quantflow.home", System.getenv().getOrDefault("QUANTFLOW_HOME", "."));
        Path def = Path.of(home).resolve("../shared/models/stories260K").normalize();
        if (!Files.isDirectory(def)) throw new QuantflowCommand.UserError("no --model given and the default " + def + " does not exist");
        return def;
    }
}
