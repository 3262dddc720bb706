package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.server.Http;
import dev.quantflow.server.QuantflowServer;
import dev.quantflow.server.TestServers;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * serve listens before the model loads: while the stages are loading their layers (seen from the
 * progress they report), liveness answers 200, readiness 503 and a completion 503; once loaded
 * and warmed up, ready. Each stage reports its layers to the end.
 */
class ServeStartupTest {
    @Test
    void healthAnswersWhileTheModelLoadsAndStagesReportTheirLayers() {
        ServeCommand serve = new ServeCommand();
        new CommandLine(serve).parseArgs("--model", SharedData.path("models/sotu6M").toString(), "--stages", "2", "--host", "127.0.0.1",
                "--port", "0", "--grpc-port", "-1");
        AtomicReference<QuantflowServer> bound = new AtomicReference<>();
        List<String> duringLoad = new CopyOnWriteArrayList<>();
        AtomicBoolean first = new AtomicBoolean(true);
        Map<String, Long> lastDone = new ConcurrentHashMap<>(), totals = new ConcurrentHashMap<>();
        Progress probe = (task, done, total, unit) -> {
            if (first.getAndSet(false)) {   // the first layer is loading: ask the server now, holding the stage's load meanwhile
                Http http = new Http(bound.get().httpPort());
                duringLoad.add("live " + http.get("/health/live").status());
                duringLoad.add("ready " + http.get("/health/ready").status());
                duringLoad.add("completion " + http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 2)).status());
            }
            lastDone.merge(task, done, Math::max);
            totals.put(task, total);
        };
        QuantflowServer server = serve.startServing(bound::set, probe);
        try {
            assertThat(duringLoad).containsExactly("live 200", "ready 503", "completion 503");
            assertThat(lastDone).containsOnlyKeys("stage 0: layers", "stage 1: layers");
            assertThat(lastDone).isEqualTo(totals);   // every stage reported its last layer
            assertThat(totals.get("stage 0: layers") + totals.get("stage 1: layers")).isEqualTo(6 + 1);   // 6 layers and lm_head
            TestServers.awaitReady(server, Duration.ofSeconds(60));
            assertThat(new Http(server.httpPort()).get("/health/ready").status()).isEqualTo(200);
        } finally {
            server.close();
        }
    }
}
