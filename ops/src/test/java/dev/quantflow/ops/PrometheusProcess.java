package dev.quantflow.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/** A real Prometheus server on loopback, started from Debian's package, and its HTTP API. */
final class PrometheusProcess implements AutoCloseable {

    /** The answer of /api/v1/query: an error message, or the result array. */
    record QueryResult(String error, JsonNode result) {
        boolean ok() {
            return error == null;
        }

        boolean hasFiniteSample() {
            for (JsonNode series : result) {
                String value = series.path("value").path(1).asText("NaN");
                if (!value.equals("NaN") && !value.endsWith("Inf")) return true;
            }
            return false;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Process process;
    private final URI base;
    private final Path log;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private PrometheusProcess(Process process, URI base, Path log) {
        this.process = process;
        this.base = base;
        this.log = log;
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
                "--web.listen-address=127.0.0.1:" + port,
                "--web.enable-lifecycle")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        PrometheusProcess prometheus = new PrometheusProcess(process, URI.create("http://127.0.0.1:" + port), log);
        prometheus.awaitReady(Duration.ofSeconds(60));
        return prometheus;
    }

    private void awaitReady(Duration limit) throws IOException, InterruptedException {
        Instant deadline = Instant.now().plus(limit);
        while (Instant.now().isBefore(deadline)) {
            if (!process.isAlive()) throw new IOException("prometheus exited " + process.exitValue() + ":\n" + log());
            try {
                if (get("/-/ready").statusCode() == 200) return;
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new IOException("prometheus not ready within " + limit + ":\n" + log());
    }

    /** An instant query at the current time. */
    QueryResult query(String expr) throws IOException, InterruptedException {
        HttpResponse<String> response = get("/api/v1/query?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8));
        JsonNode body = JSON.readTree(response.body());
        if (!"success".equals(body.path("status").asText())) {
            return new QueryResult(body.path("errorType").asText() + ": " + body.path("error").asText(), JSON.createArrayNode());
        }
        return new QueryResult(null, body.path("data").path("result"));
    }

    /** A range query: one matrix per series, for drawing. */
    JsonNode queryRange(String expr, Instant start, Instant end, Duration step) throws IOException, InterruptedException {
        HttpResponse<String> response = get("/api/v1/query_range?query=" + URLEncoder.encode(expr, StandardCharsets.UTF_8)
                + "&start=" + start.getEpochSecond() + "&end=" + end.getEpochSecond() + "&step=" + step.toSeconds());
        JsonNode body = JSON.readTree(response.body());
        if (!"success".equals(body.path("status").asText())) {
            throw new IOException("query_range failed for " + expr + ": " + body.path("error").asText());
        }
        return body.path("data").path("result");
    }

    /** The series a selector matches (/api/v1/series). */
    QueryResult series(String selector) throws IOException, InterruptedException {
        HttpResponse<String> response = get("/api/v1/series?match[]=" + URLEncoder.encode(selector, StandardCharsets.UTF_8));
        JsonNode body = JSON.readTree(response.body());
        if (!"success".equals(body.path("status").asText())) {
            return new QueryResult(body.path("errorType").asText() + ": " + body.path("error").asText(), JSON.createArrayNode());
        }
        return new QueryResult(null, body.path("data"));
    }

    /** The loaded rule groups with each rule's health and last error (/api/v1/rules). */
    JsonNode rules() throws IOException, InterruptedException {
        return JSON.readTree(get("/api/v1/rules").body()).path("data").path("groups");
    }

    /** The scrape targets with their health (/api/v1/targets). */
    JsonNode targets() throws IOException, InterruptedException {
        return JSON.readTree(get("/api/v1/targets").body()).path("data").path("activeTargets");
    }

    private HttpResponse<String> get(String pathAndQuery) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(base.resolve(pathAndQuery)).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
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
