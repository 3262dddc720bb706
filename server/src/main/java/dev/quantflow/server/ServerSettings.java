package dev.quantflow.server;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigValueType;
import dev.quantflow.server.http.Cors;
import dev.quantflow.server.http.EdgeSettings;
import dev.quantflow.server.http.HttpSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The quantflow.server block of the configuration (application.conf, env, --config file, flags),
 * checked. The engine's settings (stages, devices, quant, budgets) are quantflow.engine's, read by
 * EngineConfig.from; warmup is quantflow.engine.warmup, which on serve the server runs (see QuantflowServer).
 */
public record ServerSettings(Optional<Path> model, Optional<String> servedModelName,
                             String host, int port, int grpcPort, int adminPort, List<String> apiKeys, Optional<Path> apiKeyFile,
                             HttpSettings http, EdgeSettings edge, Duration drainTimeout, boolean warmup) {

    public static ServerSettings from(Config root) {
        Config c = root.getConfig("quantflow.server");
        int port = c.getInt("port");
        int grpcPort = c.getInt("grpc-port");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("quantflow.server.port must be 0..65535, got " + port);
        if (grpcPort < -1 || grpcPort > 65535) throw new IllegalArgumentException("quantflow.server.grpc-port must be -1..65535, got " + grpcPort);
        int adminPort = c.getInt("admin-port");
        if (adminPort < -1 || adminPort > 65535) throw new IllegalArgumentException("quantflow.server.admin-port must be -1..65535, got " + adminPort);
        int maxConnections = c.getInt("max-connections");
        if (maxConnections < 1) throw new IllegalArgumentException("quantflow.server.max-connections must be >= 1, got " + maxConnections);
        List<String> origins = list(c, "allowed-origins");
        Cors.check(origins);
        EdgeSettings edge = new EdgeSettings(maxConnections, positive(c, "header-read-timeout"), positive(c, "keep-alive-timeout"), origins,
                c.getBoolean("access-log"));
        long maxBody = c.getBytes("max-body-size");
        if (maxBody < 1024) throw new IllegalArgumentException("quantflow.server.max-body-size must be at least 1 KiB");
        HttpSettings http = new HttpSettings(maxBody, positive(c, "body-read-timeout"), positive(c, "request-timeout"),
                Math.max(1, c.getDuration("retry-after").toSeconds()), positive(c, "sse-keep-alive"));
        return new ServerSettings(path(c, "model"), text(c, "served-model-name"),
                c.getString("host"), port, grpcPort, adminPort, list(c, "api-keys"), path(c, "api-key-file"), http, edge,
                c.getDuration("drain-timeout"), root.getBoolean("quantflow.engine.warmup"));
    }

    private static Duration positive(Config c, String key) {
        Duration d = c.getDuration(key);
        if (d.isNegative() || d.isZero()) throw new IllegalArgumentException("quantflow.server." + key + " must be positive");
        return d;
    }

    private static Optional<String> text(Config c, String key) {
        String s = c.getString(key).strip();
        return s.isEmpty() ? Optional.empty() : Optional.of(s);
    }

    private static Optional<Path> path(Config c, String key) {
        return text(c, key).map(Path::of);
    }

    /** A HOCON list or a comma-separated string (as environment variables give it). */
    private static List<String> list(Config c, String key) {
        List<String> raw = c.getValue(key).valueType() == ConfigValueType.LIST ? c.getStringList(key) : List.of(c.getString(key));
        List<String> out = new ArrayList<>();
        for (String s : raw) Arrays.stream(s.split(",")).map(String::strip).filter(x -> !x.isEmpty()).forEach(out::add);
        return List.copyOf(out);
    }

    /** Never print keys: the record's toString would. */
    @Override
    public String toString() {
        return "ServerSettings[model=" + model + ", host=" + host + ", port=" + port + ", grpcPort=" + grpcPort + ", adminPort=" + adminPort + ", apiKeys=" + apiKeys.size()
                + " configured, apiKeyFile=" + apiKeyFile + "]";
    }
}
