package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * serve runs the engine's actors in the server's actor system, the one built from the loaded
 * configuration, so a --config FILE reaches them too: here a file that turns on Pekko's message
 * serialization check, under which a real generation must still pass.
 */
class ServeConfigFileEngineTest {
    @Test
    void theEngineRunsInTheServersSystemWithItsConfigFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("serve.conf");
        Files.writeString(file, "pekko.actor.serialize-messages = on\nquantflow.actors.probe-report-interval = 3s\n");
        ServeCommand serve = new ServeCommand();
        new CommandLine(serve).parseArgs("--model", SharedData.path("models/stories260K").toString(), "--stages", "2", "--host", "127.0.0.1",
                "--port", "0", "--grpc-port", "-1", "--config", file.toString());
        QuantflowServer server = serve.startServing(s -> {}, Progress.NONE);
        try {
            TestServers.awaitReady(server, Duration.ofSeconds(60));
            String prefix = server.system().name() + "-quantflow.actors.compute-dispatcher";
            assertThat(Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(prefix)).count())
                    .as("one compute thread per stage, in the server's system").isEqualTo(2);
            assertThat(server.system().settings().config().getDuration("quantflow.actors.probe-report-interval")).isEqualTo(Duration.ofSeconds(3));
            assertThat(server.system().settings().config().getBoolean("pekko.actor.serialize-messages")).isTrue();
            var response = new Http(server.httpPort()).post("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 8, "temperature", 0));
            assertThat(response.status()).isEqualTo(200);
        } finally {
            server.close();
        }
    }
}
