package dev.quantflow.ops;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The real server in its own JVM, started the way the Deployment starts it ({@code quantflow serve}
 * with its settings in QUANTFLOW_* variables), from the test's class path, on free loopback ports.
 */
final class QuantflowServerProcess implements AutoCloseable {
    private final Process process;
    private final Path log;
    final int httpPort;
    final int grpcPort;
    final URI base;

    private QuantflowServerProcess(Process process, Path log, int httpPort, int grpcPort) {
        this.process = process;
        this.log = log;
        this.httpPort = httpPort;
        this.grpcPort = grpcPort;
        this.base = URI.create("http://127.0.0.1:" + httpPort);
    }

    /**
     * Whether this build's CLI has the `serve` subcommand (the serving issue may land after this
     * module): `quantflow --help` lists it under Commands.
     */
    static boolean serveCommandExists() throws IOException, InterruptedException {
        String help = Command.of(Path.of("."), Duration.ofMinutes(1),
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", System.getProperty("java.class.path"),
                System.getProperty("quantflow.ops.serverMain", "dev.quantflow.server.cli.Main"), "--help").check();
        int commands = help.indexOf("Commands:");
        if (commands < 0) throw new AssertionError("quantflow --help lists no commands:\n" + help);
        return help.substring(commands).lines().anyMatch(l -> l.matches("\\s+serve(\\s.*)?"));
    }

    static QuantflowServerProcess start(Path model, Path workDir) throws IOException, InterruptedException {
        int httpPort = FreePort.pick();
        int grpcPort = FreePort.pick();
        Path log = workDir.resolve("server.log");
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(OpsPaths.launcherJvmFlags());
        command.addAll(List.of("-Xmx1g", "-cp", System.getProperty("java.class.path"),
                System.getProperty("quantflow.ops.serverMain", "dev.quantflow.server.cli.Main"), "serve"));
        // settings through the environment, as the Deployment passes them
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("QUANTFLOW_MODEL", model.toString());
        builder.environment().put("QUANTFLOW_HOST", "127.0.0.1");
        builder.environment().put("QUANTFLOW_PORT", Integer.toString(httpPort));
        builder.environment().put("QUANTFLOW_GRPC_PORT", Integer.toString(grpcPort));
        Process process = builder.start();
        QuantflowServerProcess server = new QuantflowServerProcess(process, log, httpPort, grpcPort);
        server.awaitReady(Duration.ofSeconds(120));
        return server;
    }

    private void awaitReady(Duration limit) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
        Instant deadline = Instant.now().plus(limit);
        while (Instant.now().isBefore(deadline)) {
            if (!process.isAlive()) throw new IOException("quantflow serve exited " + process.exitValue() + ":\n" + log());
            try {
                HttpResponse<Void> response = http.send(HttpRequest.newBuilder(base.resolve("/health/ready"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding());
                if (response.statusCode() == 200) return;
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new IOException("quantflow serve not ready within " + limit + ":\n" + log());
    }

    /** The server's /metrics text. */
    String scrape() throws IOException, InterruptedException {
        // HTTP/1.1 as Prometheus scrapes (the JDK client would otherwise try an h2c upgrade)
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        return http.send(HttpRequest.newBuilder(base.resolve("/metrics")).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    String log() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    /** SIGTERM, as Kubernetes sends it: the server drains and exits. */
    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
    }
}
