package dev.quantflow.server.cli;

import dev.quantflow.engine.gguf.GgufFormatException;
import dev.quantflow.engine.hub.HubException;
import dev.quantflow.engine.model.ModelLoadException;
import dev.quantflow.engine.tokenizer.TokenizerException;
import dev.quantflow.server.api.ServerVersion;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The top-level `quantflow` command; each subcommand is its own class. */
@Command(name = "quantflow", mixinStandardHelpOptions = true, version = "quantflow " + ServerVersion.VERSION,
        description = "A JVM LLM inference server with quantization.",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, SynthModelCommand.class,
                ServeCommand.class, StageNodeCommand.class, BenchCommand.class, DevicesCommand.class,
                EvalCommand.class, InjectOutliersCommand.class, QuantizeCommand.class, QuantReportCommand.class, DownloadCommand.class})
public final class QuantflowCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
    }

    /**
     * The command line with UTF-8 out/err. Bad input (a missing file, a bad config, a bad
     * argument) is one line on stderr and exit 2; an unexpected failure is one line and exit 1
     * (QUANTFLOW_DEBUG=1 adds the stack trace).
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new QuantflowCommand());
        cl.setOut(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
        cl.setErr(new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true));
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            PrintWriter err = cmd.getErr();
            if (isBadInput(ex)) {
                err.println("quantflow: " + firstLine(ex.getMessage()));
                return 2;
            }
            if (System.getenv("QUANTFLOW_DEBUG") != null) ex.printStackTrace(err);
            err.println("quantflow: internal error: " + ex.getClass().getName() + ": " + firstLine(ex.getMessage())
                    + (System.getenv("QUANTFLOW_DEBUG") != null ? "" : " (QUANTFLOW_DEBUG=1 shows the stack trace)"));
            return 1;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + firstLine(ex.getMessage()) + " (see --help)");
            return 2;
        });
        return cl;
    }

    static boolean isBadInput(Exception ex) {
        return ex instanceof UserError || ex instanceof ModelLoadException || ex instanceof TokenizerException
                || ex instanceof GgufFormatException || ex instanceof HubException || ex instanceof IllegalArgumentException || ex instanceof IllegalStateException
                || ex instanceof UncheckedIOException;
    }

    static String firstLine(String message) {
        if (message == null || message.isBlank()) return "(no message)";
        int nl = message.indexOf('\n');
        return (nl < 0 ? message : message.substring(0, nl)).strip();
    }

    /** An error in what the user asked for, reported without a stack trace. */
    public static final class UserError extends RuntimeException {
        public UserError(String message) {
            super(message);
        }
    }
}
