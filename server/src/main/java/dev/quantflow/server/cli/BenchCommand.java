package dev.quantflow.server.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** `quantflow bench`: a parent for the load generators; each target is its own subcommand. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks: load generators against the engine or a server.",
        subcommands = {EngineBenchCommand.class, ServeBenchCommand.class})
public final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.err);
    }
}
