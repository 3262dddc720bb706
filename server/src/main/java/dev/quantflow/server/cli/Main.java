package dev.quantflow.server.cli;

import org.slf4j.LoggerFactory;

/** Entry point of bin/quantflow. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        // SLF4J initialized on this thread before any other logs: initialized while the engine's
        // threads log, it queues their calls and replays them with three warnings on stderr
        LoggerFactory.getILoggerFactory();
        System.exit(QuantflowCommand.commandLine().execute(args));
    }
}
