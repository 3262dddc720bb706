package dev.quantflow.server.http;

import java.time.Duration;

/**
 * Limits of the HTTP layer: the largest request body, how long a client may take to send it,
 * how long a non-streamed generation may run, the Retry-After given with 429/503, and how often
 * an idle SSE stream gets a keep-alive comment.
 */
public record HttpSettings(long maxBodyBytes, Duration bodyReadTimeout, Duration requestTimeout, long retryAfterSeconds, Duration sseKeepAlive) {
    // the defaults are quantflow.server's in application.conf, read by ServerSettings.from
}
