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
import java.time.Duration;
import java.time.Instant;

/** The parts of Prometheus's HTTP API (/api/v1) that the dashboard tools use. */
public final class PrometheusClient {

    /** An answer: an error message, or the result (vector, matrix or series list). */
    public record Answer(String error, JsonNode result) {
        public boolean ok() {
            return error == null;
        }

        /** At least one sample that is a number (not NaN, not infinite). */
        public boolean hasFiniteSample() {
            for (JsonNode series : result) {
                String value = series.path("value").path(1).asText("NaN");
                if (!value.equals("NaN") && !value.endsWith("Inf")) return true;
            }
            return false;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private final URI base;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

    public PrometheusClient(URI base) {
        this.base = base;
    }

    /** An instant query at the current time. */
    public Answer query(String expr) throws IOException, InterruptedException {
        return answer(get("/api/v1/query?query=" + encode(expr)));
    }

    /** A range query: a matrix, one series per label set. */
    public Answer queryRange(String expr, Instant start, Instant end, Duration step) throws IOException, InterruptedException {
        return answer(get("/api/v1/query_range?query=" + encode(expr) + "&start=" + start.getEpochSecond()
                + "&end=" + end.getEpochSecond() + "&step=" + Math.max(1, step.toSeconds())));
    }

    /** The series a selector matches. */
    public Answer series(String selector) throws IOException, InterruptedException {
        return answer(get("/api/v1/series?match[]=" + encode(selector)));
    }

    /** Loaded rule groups, each rule with its health and last error. */
    public JsonNode rules() throws IOException, InterruptedException {
        return JSON.readTree(get("/api/v1/rules").body()).path("data").path("groups");
    }

    /** Scrape targets with their health. */
    public JsonNode targets() throws IOException, InterruptedException {
        return JSON.readTree(get("/api/v1/targets").body()).path("data").path("activeTargets");
    }

    /** Whether /-/ready answers 200. */
    public boolean ready() {
        try {
            return get("/-/ready").statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static Answer answer(HttpResponse<String> response) throws IOException {
        JsonNode body;
        try {
            body = JSON.readTree(response.body());
        } catch (IOException e) {
            return new Answer("HTTP " + response.statusCode() + ": " + response.body(), JSON.createArrayNode());
        }
        if (!"success".equals(body.path("status").asText())) {
            return new Answer(body.path("errorType").asText() + ": " + body.path("error").asText(), JSON.createArrayNode());
        }
        JsonNode data = body.path("data");
        return new Answer(null, data.has("result") ? data.path("result") : data);
    }

    private HttpResponse<String> get(String pathAndQuery) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(base.resolve(pathAndQuery)).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
