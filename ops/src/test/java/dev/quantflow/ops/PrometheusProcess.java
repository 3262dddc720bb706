package dev.quantflow.ops;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/** A real Prometheus server on loopback, started from Debian's package, with its API client. */
final class PrometheusProcess implements AutoCloseable {
    private final Process process;
    private final Path log;
    final URI base;
    final PrometheusClient api;

    private PrometheusProcess(Process process, URI base, Path log) {
        this.process = process;
        this.base = base;
        this.log = log;
        this.api = new PrometheusClient(base);
    }

    /**
     * The scrape configuration of the test: one job "quantflow" scraping the server every second,
     * with the namespace and pod labels that the prometheus-operator would attach in Kubernetes.
     */
    static String config(int serverPort, Path ruleFile, String namespace, String pod) {
        return """
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  evaluation_interval: 1s
                rule_files:
                  - %s
                scrape_configs:
                  - job_name: quantflow
                    metrics_path: /metrics
                    static_configs:
                      - targets: ["127.0.0.1:%d"]
                        labels:
                          namespace: %s
                          pod: %s
                """.formatted(ruleFile.toAbsolutePath(), serverPort, namespace, pod);
    }

    static PrometheusProcess start(Path configFile, Path dataDir) throws IOException, InterruptedException {
        int port = FreePort.pick();
        Path log = dataDir.resolveSibling("prometheus.log");
        Process process = new ProcessBuilder(Tools.prometheus().toString(),
                "--config.file=" + configFile.toAbsolutePath(),
                "--storage.tsdb.path=" + dataDir.toAbsolutePath(),
                "--web.listen-address=127.0.0.1:" + port)
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        PrometheusProcess prometheus = new PrometheusProcess(process, URI.create("http://127.0.0.1:" + port), log);
        Instant deadline = Instant.now().plusSeconds(60);
        while (!prometheus.api.ready()) {
            if (!process.isAlive()) throw new IOException("prometheus exited " + process.exitValue() + ":\n" + prometheus.log());
            if (Instant.now().isAfter(deadline)) throw new IOException("prometheus not ready within 60 s:\n" + prometheus.log());
            Thread.sleep(200);
        }
        return prometheus;
    }

    String log() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
    }
}
