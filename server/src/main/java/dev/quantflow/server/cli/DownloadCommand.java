package dev.quantflow.server.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * Fetches a Hub model into the Hugging Face cache and prints its local path, loading nothing: for
 * an init container or a build step, so that serve starts from the cache (and listens at once).
 */
@Command(name = "download", mixinStandardHelpOptions = true,
        description = "Fetch a Hugging Face Hub model (org/name[@revision][:QUANT]) into the Hugging Face cache and print its local path.")
public final class DownloadCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Override
    public Integer call() {
        spec.commandLine().getOut().println(model.dir().toAbsolutePath());
        spec.commandLine().getOut().flush();
        return 0;
    }
}
