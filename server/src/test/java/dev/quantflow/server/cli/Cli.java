package dev.quantflow.server.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the quantflow command line in-process with captured stdout/stderr. */
final class Cli {
    record Result(int exit, String out, String err) {
        String[] errLines() {
            return err.lines().toArray(String[]::new);
        }
    }

    private Cli() {}

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = QuantflowCommand.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }
}
