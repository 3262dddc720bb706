package dev.quantflow.engine.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Where the Hub and its cache are, read from the environment variables huggingface_hub reads
 * (constants.py), so Quantflow and the Python tools share one cache and one login:
 * HF_ENDPOINT; HF_TOKEN (else the file huggingface-cli login writes, HF_TOKEN_PATH or
 * $HF_HOME/token); HF_HUB_CACHE (else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, with HF_HOME
 * defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface); HF_HUB_OFFLINE (1, ON,
 * YES, TRUE); HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT in seconds.
 */
public record HubSettings(URI endpoint, Optional<String> token, Path cacheDir, boolean offline, int parallelFiles,
                          Duration requestTimeout, Duration stallTimeout) {
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";
    private static final Set<String> TRUE = Set.of("1", "ON", "YES", "TRUE");
    private static final int PARALLEL_FILES = 8;   // huggingface_hub's snapshot_download max_workers

    public HubSettings {
        if (parallelFiles < 1) throw new IllegalArgumentException("parallel files must be >= 1");
    }

    /** Settings for tests and embedders: that endpoint and cache, no token, online. */
    public static HubSettings of(URI endpoint, Path cacheDir) {
        return new HubSettings(endpoint, Optional.empty(), cacheDir, false, PARALLEL_FILES, Duration.ofSeconds(10), Duration.ofSeconds(10));
    }

    public HubSettings withToken(String token) {
        return new HubSettings(endpoint, Optional.of(token), cacheDir, offline, parallelFiles, requestTimeout, stallTimeout);
    }

    public HubSettings withOffline(boolean offline) {
        return new HubSettings(endpoint, token, cacheDir, offline, parallelFiles, requestTimeout, stallTimeout);
    }

    public HubSettings withStallTimeout(Duration stall) {
        return new HubSettings(endpoint, token, cacheDir, offline, parallelFiles, requestTimeout, stall);
    }

    public static HubSettings fromEnvironment() {
        return fromEnvironment(System.getenv(), System.getProperty("user.home"));
    }

    public static HubSettings fromEnvironment(Map<String, String> env, String userHome) {
        String endpoint = nonBlank(env.get("HF_ENDPOINT")).orElse(DEFAULT_ENDPOINT).replaceAll("/+$", "");
        URI uri;
        try {
            uri = URI.create(endpoint);
        } catch (IllegalArgumentException e) {
            throw new HubException("HF_ENDPOINT is not a URL: " + endpoint);
        }
        if (uri.getScheme() == null || uri.getHost() == null || !uri.getScheme().matches("https?"))
            throw new HubException("HF_ENDPOINT must be an http(s) URL like " + DEFAULT_ENDPOINT + ", got " + endpoint);
        Path home = expand(nonBlank(env.get("HF_HOME")).orElseGet(() ->
                nonBlank(env.get("XDG_CACHE_HOME")).orElse(userHome + "/.cache") + "/huggingface"), userHome);
        Path cache = nonBlank(env.get("HF_HUB_CACHE")).or(() -> nonBlank(env.get("HUGGINGFACE_HUB_CACHE")))
                .map(p -> expand(p, userHome)).orElse(home.resolve("hub"));
        Optional<String> token = nonBlank(env.get("HF_TOKEN")).or(() -> nonBlank(env.get("HUGGING_FACE_HUB_TOKEN")))
                .or(() -> storedToken(nonBlank(env.get("HF_TOKEN_PATH")).map(p -> expand(p, userHome)).orElse(home.resolve("token"))));
        boolean offline = isTrue(env.get("HF_HUB_OFFLINE")) || isTrue(env.get("TRANSFORMERS_OFFLINE"));
        return new HubSettings(uri, token, cache, offline, PARALLEL_FILES, seconds(env, "HF_HUB_ETAG_TIMEOUT"), seconds(env, "HF_HUB_DOWNLOAD_TIMEOUT"));
    }

    private static Optional<String> storedToken(Path file) {
        try {
            return Files.isRegularFile(file) ? nonBlank(Files.readString(file)) : Optional.empty();
        } catch (IOException unreadable) {
            return Optional.empty();
        }
    }

    private static Duration seconds(Map<String, String> env, String key) {
        String v = nonBlank(env.get(key)).orElse("10");
        try {
            return Duration.ofSeconds(Math.max(1, Long.parseLong(v)));
        } catch (NumberFormatException e) {
            throw new HubException(key + " must be a number of seconds, got '" + v + "'");
        }
    }

    private static boolean isTrue(String v) {
        return v != null && TRUE.contains(v.strip().toUpperCase(Locale.ROOT));
    }

    private static Optional<String> nonBlank(String v) {
        return v == null || v.isBlank() ? Optional.empty() : Optional.of(v.strip());
    }

    private static Path expand(String p, String userHome) {
        return Path.of(p.equals("~") ? userHome : p.startsWith("~/") ? userHome + p.substring(1) : p);
    }
}
