package dev.quantflow.server.http;

import java.time.Duration;

/**
 * Limits of the HTTP layer: the largest request body, how long a client may take to send it,
 * how long a non-streamed generation may run, the Retry-After given with 429/503, and how often
 * an idle SSE stream gets a keep-alive comment.
 */
public record HttpSettings(long maxBodyBytes, Duration bodyReadTimeout, Duration requestTimeout, long retryAfterSeconds, Duration sseKeepAlive) {
    public static HttpSettings defaults() {
        return new HttpSettings(4L << 20, Duration.ofSeconds(30), Duration.ofMinutes(10), 1, Duration.ofSeconds(15));
    }
}
