package dev.quantflow.server.cli;

import dev.quantflow.engine.gguf.GgufFile;
import dev.quantflow.engine.hub.HubResolver;
import dev.quantflow.engine.progress.Progress;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * --model: a local model directory or GGUF file, or a Hugging Face Hub id
 * org/name[@revision][:QUANT] downloaded into the shared Hugging Face cache (see HubResolver);
 * defaulting to $QUANTFLOW_MODEL, else ../shared/models/stories260K beside the project.
 */
public final class ModelOption {
    static final String HELP = "Hugging Face model directory, GGUF file, or a Hub id org/name[@revision][:QUANT] fetched into the Hugging Face cache "
            + "(HF_HOME, HF_HUB_CACHE, HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE; :QUANT picks that GGUF file)";

    @Option(names = "--model", paramLabel = "DIR|FILE.gguf|ORG/NAME", description = HELP + " (default: $QUANTFLOW_MODEL or ../shared/models/stories260K)")
    String model;

    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    private Path resolved;

    /** The model's local path, downloading it first when it names the Hub (once per command). */
    public Path dir() {
        if (resolved == null) resolved = checked(resolve(spec(), command == null ? null : command.commandLine().getErr()));
        return resolved;
    }

    /** What --model (else $QUANTFLOW_MODEL, else the default directory) names. */
    String spec() {
        if (model != null) return model;
        String env = System.getenv("QUANTFLOW_MODEL");
        if (env != null && !env.isBlank()) return env.strip();
        String home = System.getProperty("quantflow.home", System.getenv().getOrDefault("QUANTFLOW_HOME", "."));
        Path def = Path.of(home).resolve("../shared/models/stories260K").normalize();
        if (!Files.isDirectory(def)) throw new QuantflowCommand.UserError("no --model given and the default " + def + " does not exist");
        return def.toString();
    }

    /**
     * A local path as it is, else the Hub id resolved (notices as "quantflow: ..." lines on err, the
     * download's progress to the running command's listener, or a CLI renderer of its own).
     */
    static Path resolve(String spec, PrintWriter err) {
        PrintWriter out = err != null ? err : new PrintWriter(System.err, true);
        Progress progress = Progress.CURRENT.isBound() ? Progress.current() : ProgressRenderer.forCli(out);
        return Progress.during(progress, () -> HubResolver.resolve(spec, line -> {
            out.println("quantflow: " + line);
            out.flush();
        }));
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
