package dev.quantflow.server.http;

import java.util.Set;

/** The endpoint label of quantflow_http_requests_total: a known path, or "other" (so the label set stays bounded). */
final class Endpoint {
    private static final Set<String> KNOWN = Set.of("/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/health/live",
            "/health/ready", "/metrics", "/tokenize", "/detokenize", "/version");

    private Endpoint() {}

    static String label(String path) {
        if (KNOWN.contains(path)) return path;
        if (path.startsWith("/v1/models/")) return "/v1/models/{id}";
        return "other";
    }
}
