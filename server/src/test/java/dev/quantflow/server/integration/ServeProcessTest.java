package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.server.Http;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * `quantflow serve` as a real process, under the launcher's heap limit: configured through flags
 * and an environment variable, it serves, and SIGTERM drains it (the in-flight stream completes) and it exits with status 0.
 */
class ServeProcessTest {
    @Test
    void sigtermDrainsAndExitsZero() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", LauncherHeapTest.heapFlag("serve", "--model", Reference.MODEL.toString()),
                // the logging users get (the test classpath's logback-test.xml logs warnings only)
                "-Dlogback.configurationFile=" + Path.of("target/classes/logback.xml").toAbsolutePath(), "-cp", System.getProperty("java.class.path"), "dev.quantflow.server.cli.Main",
                "serve", "--model", Reference.MODEL.toString(), "--host", "127.0.0.1", "--port", "0", "--grpc-port", "-1", "--drain-timeout", "60s"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("QUANTFLOW_API_KEYS", "env-key-1,env-key-2");
        Process p = pb.start();
        BlockingQueue<String> stderr = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) stderr.add(line);
            } catch (IOException ignored) {
                // the process ended
            }
        });
        try {
            int port = -1;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            Pattern serving = Pattern.compile("serving .* on http://127\\.0\\.0\\.1:(\\d+)");
            List<String> seen = new ArrayList<>();
            while (port < 0 && System.nanoTime() < end) {
                String line = stderr.poll(1, TimeUnit.SECONDS);
                if (line == null) {
                    assertThat(p.isAlive()).as("serve exited early: " + seen).isTrue();
                    continue;
                }
                seen.add(line);
                Matcher m = serving.matcher(line);
                if (m.find()) port = Integer.parseInt(m.group(1));
            }
            assertThat(port).as(seen.toString()).isPositive();
            Http anonymous = new Http(port);
            while (anonymous.get("/health/ready").status() != 200 && System.nanoTime() < end) Thread.sleep(50);
            assertThat(anonymous.post("/v1/completions", Map.of("prompt", "Hi")).status()).isEqualTo(401);
            Http http = anonymous.withKey("env-key-2");
            assertThat(http.post("/v1/completions", Map.of("prompt", "Hi", "max_tokens", 2)).status()).isEqualTo(200);
            try (Http.SseStream s = http.stream("/v1/completions", Map.of("prompt", "Once upon a time", "max_tokens", 300, "stream", true, "ignore_eos", true))) {
                assertThat(s.next()).isPresent();
                p.destroy();   // SIGTERM
                List<String> rest = s.rest();
                assertThat(rest.getLast()).isEqualTo("[DONE]");
                assertThat(Http.json(rest.get(rest.size() - 2)).get("choices").get(0).get("finish_reason").asText()).isEqualTo("length");
            }
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isZero();
            List<String> log = new ArrayList<>(seen);
            log.addAll(stderr);
            assertThat(String.join("\n", log)).doesNotContain("env-key");
            assertThat(log).as("serving is said once").filteredOn(l -> serving.matcher(l).find()).hasSize(1);
            assertThat(log).as("the start-up log names the scheme and the KV format")
                    .anyMatch(l -> l.contains("loading ") && l.contains("linears fp32") && l.contains("KV cache f32"));
        } finally {
            p.destroyForcibly();
        }
    }
}
