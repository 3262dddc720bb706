package dev.quantflow.server.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The top-level `quantflow` command; each subcommand is its own class. */
@Command(name = "quantflow", mixinStandardHelpOptions = true, version = "quantflow 0.1.0",
        description = "A JVM LLM inference server with quantization.",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, SynthModelCommand.class, BenchCommand.class})
public final class QuantflowCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.err);
    }

    /** Bad input (a missing file, a bad config, a bad argument) is one line on stderr and exit 2. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new QuantflowCommand());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (ex instanceof UserError || ex instanceof IllegalArgumentException || ex instanceof IllegalStateException
                    || ex.getClass().getSimpleName().endsWith("LoadException") || ex.getClass().getSimpleName().endsWith("TokenizerException")) {
                cmd.getErr().println("quantflow: " + ex.getMessage());
                return 2;
            }
            throw ex;
        });
        return cl;
    }

    /** An error in what the user asked for, reported without a stack trace. */
    public static final class UserError extends RuntimeException {
        public UserError(String message) {
            super(message);
        }
    }
}
