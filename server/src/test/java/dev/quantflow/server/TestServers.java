package dev.quantflow.server;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.quantflow.actors.api.InferenceEngine;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/** Starts a QuantflowServer on ephemeral ports for tests and waits until it is ready. */
public final class TestServers {
    private TestServers() {}

    public static Config config(Map<String, Object> overrides) {
        Map<String, Object> m = new HashMap<>();
        m.put("quantflow.server.host", "127.0.0.1");
        m.put("quantflow.server.port", 0);
        m.put("quantflow.server.grpc-port", 0);
        m.put("quantflow.server.api-keys", "");
        m.put("quantflow.server.api-key-file", "");
        overrides.forEach((k, v) -> m.put(k.startsWith("quantflow.") || k.startsWith("pekko.") ? k : "quantflow.server." + k, v));
        return ConfigFactory.parseMap(m).withFallback(ConfigFactory.load()).resolve();
    }

    public static QuantflowServer start(InferenceEngine engine, Map<String, Object> overrides) {
        Config c = config(overrides);
        QuantflowServer s = QuantflowServer.start(engine, ServerSettings.from(c), c);
        awaitReady(s, Duration.ofSeconds(60));
        return s;
    }

    public static void awaitReady(QuantflowServer s, Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        while (!s.state().ready()) {
            if (System.nanoTime() > end) throw new AssertionError("server not ready after " + timeout);
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
