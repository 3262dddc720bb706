package dev.quantflow.actors.engine;

/** Where the engine's stage workers run. */
public enum StageHosting {
    /** In this JVM, one per layer range (quantflow serve, generate, bench engine). */
    LOCAL,
    /** On stage nodes of the Pekko cluster this JVM's actor system belongs to (quantflow serve --role frontend). */
    CLUSTER
}
