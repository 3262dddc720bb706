package dev.quantflow.server.api;

/** The server's version, as GET /version (vLLM's shape: {"version": ...}) and `quantflow --version` report it. */
public final class ServerVersion {
    public static final String VERSION = "0.1.0";

    private ServerVersion() {}
}
