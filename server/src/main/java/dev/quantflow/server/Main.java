package dev.quantflow.server;

import dev.quantflow.server.cli.QuantflowCommand;
import picocli.CommandLine;

/** Entry point of bin/quantflow. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.exit(QuantflowCommand.commandLine().execute(args));
    }
}
