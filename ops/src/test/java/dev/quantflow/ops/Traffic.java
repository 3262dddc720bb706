package dev.quantflow.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounded client traffic against the real server on loopback: streamed and plain completions, chat,
 * model listing, and requests the server must refuse (bad JSON, unknown path), from a few client
 * threads until stopped or until its request and time caps.
 */
final class Traffic implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    private final URI base;
    private final String model;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicInteger sent = new AtomicInteger();
    final ConcurrentHashMap<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
    private final Thread[] clients;
    /** A pause between one client's requests: a steady load rather than the machine's maximum. */
    private static final Duration PACE = Duration.ofMillis(50);

    Traffic(URI base, int clients, int maxRequests, Duration maxTime) throws IOException, InterruptedException {
        this.base = base;
        this.model = JSON.readTree(send("GET", "/v1/models", null).body()).path("data").path(0).path("id").asText();
        Instant deadline = Instant.now().plus(maxTime);
        this.clients = new Thread[clients];
        for (int c = 0; c < clients; c++) {
            int client = c;
            this.clients[c] = Thread.ofVirtual().start(() -> {
                int i = 0;
                while (!stop.get() && Instant.now().isBefore(deadline) && sent.incrementAndGet() <= maxRequests) {
                    try {
                        one(client, i++);
                        Thread.sleep(PACE);
                    } catch (IOException e) {
                        statuses.computeIfAbsent(-1, k -> new AtomicInteger()).incrementAndGet();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }
    }

    String model() {
        return model;
    }

    private void one(int client, int i) throws IOException, InterruptedException {
        String prompt = JSON.writeValueAsString(i % 2 == 0 ? "Once upon a time" : "The little dog");
        switch (i % 7) {
            case 0, 1, 2 -> send("POST", "/v1/completions", """
                    {"model": "%s", "prompt": %s, "max_tokens": %d, "temperature": 0.8, "seed": %d}"""
                    .formatted(model, prompt, 8 + (i % 3) * 8, client * 1000 + i));
            case 3, 4 -> send("POST", "/v1/completions", """
                    {"model": "%s", "prompt": %s, "max_tokens": 16, "stream": true}""".formatted(model, prompt));
            case 5 -> send("POST", "/v1/chat/completions", """
                    {"model": "%s", "messages": [{"role": "user", "content": %s}], "max_tokens": 12}""".formatted(model, prompt));
            default -> {
                send("POST", "/v1/completions", "{not json");
                send("GET", "/v1/no-such-endpoint", null);
            }
        }
    }

    private HttpResponse<String> send(String method, String path, String body) throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(60));
        if (body != null) request.header("Content-Type", "application/json");
        request.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        statuses.computeIfAbsent(response.statusCode(), k -> new AtomicInteger()).incrementAndGet();
        return response;
    }

    int okResponses() {
        return statuses.getOrDefault(200, new AtomicInteger()).get();
    }

    @Override
    public void close() throws InterruptedException {
        stop.set(true);
        for (Thread t : clients) t.join(Duration.ofSeconds(90));
    }
}
