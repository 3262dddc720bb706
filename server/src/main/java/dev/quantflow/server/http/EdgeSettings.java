package dev.quantflow.server.http;

import java.time.Duration;
import java.util.List;

/**
 * What the server does at its edge, before a request reaches an endpoint: connections per listener,
 * how long a client may take to send a request's headers, how long a connection with no request in
 * flight stays open, the browser origins allowed by CORS (empty: CORS off; "*": any) and whether
 * every request gets an access-log line.
 */
public record EdgeSettings(int maxConnections, Duration headerReadTimeout, Duration keepAliveTimeout, List<String> allowedOrigins, boolean accessLog) {
    public EdgeSettings {
        allowedOrigins = List.copyOf(allowedOrigins);
    }

    public boolean corsEnabled() {
        return !allowedOrigins.isEmpty();
    }
}
