package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.hub.HubResolver;
import dev.quantflow.engine.hub.HubSettings;
import dev.quantflow.engine.hub.StubHub;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `generate --model org/name` through a loopback Hub (StubHub) serving a copy of stories260K: the
 * same text as from the local directory, the files in the Hugging Face cache under HF_HOME, and
 * with HF_HUB_OFFLINE=1 the same text again (and download printing the snapshot) without a request. A real process, so the HF_*
 * variables are real environment variables.
 */
class HubModelCommandTest {
    static final Path LOCAL = SharedData.path("models/stories260K");

    @TempDir
    Path tmp;

    record Run(int exit, String out, String err) {}

    @Test
    void generateFromAHubIdPrintsWhatTheLocalDirectoryDoes() throws Exception {
        String[] args = {"generate", "--prompt", "Once upon a time", "--max-tokens", "40"};
        Cli.Result local = Cli.run(concat(args, "--model", LOCAL.toString()));
        assertThat(local.exit()).as(local.err()).isZero();

        try (StubHub hub = new StubHub()) {
            String commit = hub.commitDirectory("karpathy/stories260K", LOCAL);
            Path hfHome = tmp.resolve("hf");
            Map<String, String> env = Map.of("HF_ENDPOINT", hub.endpoint().toString(), "HF_HOME", hfHome.toString());

            Run fromHub = quantflow(env, concat(args, "--model", "karpathy/stories260K"));
            assertThat(fromHub.exit()).as(fromHub.err()).isZero();
            assertThat(fromHub.out()).isEqualTo(local.out());
            assertThat(fromHub.err()).contains("quantflow: karpathy/stories260K: fetching 6 files of commit " + commit.substring(0, 12))
                    .containsPattern("quantflow: download model\\.safetensors \\d+/\\d+ KiB \\(100%\\)");
            Path snapshot = hfHome.resolve("hub/models--karpathy--stories260K/snapshots").resolve(commit);
            assertThat(Files.isSymbolicLink(snapshot.resolve("model.safetensors"))).isTrue();
            assertThat(snapshot.resolve("model.safetensors")).hasSameBinaryContentAs(LOCAL.resolve("model.safetensors"));
            assertThat(hfHome.resolve("hub/models--karpathy--stories260K/refs/main")).hasContent(commit);

            hub.clearRequests();
            Map<String, String> offline = Map.of("HF_ENDPOINT", hub.endpoint().toString(), "HF_HOME", hfHome.toString(), "HF_HUB_OFFLINE", "1");
            Run cached = quantflow(offline, concat(args, "--model", "karpathy/stories260K"));
            assertThat(cached.exit()).as(cached.err()).isZero();
            assertThat(cached.out()).isEqualTo(local.out());
            Run path = quantflow(offline, "download", "--model", "karpathy/stories260K");
            assertThat(path.out().strip()).as(path.err()).isEqualTo(snapshot.toString());
            assertThat(hub.requests()).isEmpty();

            Run missing = quantflow(offline, concat(args, "--model", "karpathy/stories15M"));
            assertThat(missing.exit()).isEqualTo(2);
            assertThat(missing.err().strip()).isEqualTo("quantflow: HF_HUB_OFFLINE is set and karpathy/stories15M is not in the cache; nothing of "
                    + "karpathy/stories15M is cached in " + hfHome.resolve("hub") + "; unset HF_HUB_OFFLINE to download it");
        }
    }

    /** serve names a Hub model after its id, and serves it from the cache with HF_HUB_OFFLINE=1. */
    @Test
    void serveNamesAHubModelAfterItsId() throws Exception {
        Path hfHome = tmp.resolve("hf");
        try (StubHub hub = new StubHub()) {
            hub.commitDirectory("karpathy/stories260K", LOCAL);
            new HubResolver(HubSettings.of(hub.endpoint(), hfHome.resolve("hub")), line -> {}).resolve("karpathy/stories260K");
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder pb = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Dlogback.configurationFile=" + Path.of("target/classes/logback.xml").toAbsolutePath(),
                "-cp", System.getProperty("java.class.path"), "dev.quantflow.server.cli.Main",
                "serve", "--model", "karpathy/stories260K", "--host", "127.0.0.1", "--port", "0", "--grpc-port", "-1", "--admin-port", "-1")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(false);
        pb.environment().keySet().removeIf(k -> k.startsWith("HF_") || k.startsWith("HUGGING") || k.startsWith("QUANTFLOW_"));
        pb.environment().putAll(Map.of("HF_HOME", hfHome.toString(), "HF_HUB_OFFLINE", "1"));
        Process p = pb.start();
        try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
            Pattern serving = Pattern.compile("serving karpathy/stories260K on http://127\\.0\\.0\\.1:(\\d+)");
            List<String> seen = new ArrayList<>();
            int port = -1;
            for (String line; port < 0 && (line = err.readLine()) != null; ) {
                seen.add(line);
                Matcher m = serving.matcher(line);
                if (m.find()) port = Integer.parseInt(m.group(1));
            }
            assertThat(port).as(String.join("\n", seen)).isPositive();
            HttpResponse<String> models = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(models.statusCode()).isEqualTo(200);
            assertThat(models.body()).contains("\"id\":\"karpathy/stories260K\"");
        } finally {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    static String[] concat(String[] a, String... b) {
        List<String> all = new ArrayList<>(List.of(a));
        all.addAll(List.of(b));
        return all.toArray(String[]::new);
    }

    /** bin/quantflow's JVM flags, this test's class path, the HF_* environment given and no other. */
    static Run quantflow(Map<String, String> env, String... args) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Dquantflow.progress=log", "-Dquantflow.progress.quiet=0",
                "-cp", System.getProperty("java.class.path"), "dev.quantflow.server.cli.Main"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().keySet().removeIf(k -> k.startsWith("HF_") || k.startsWith("HUGGING") || k.equals("QUANTFLOW_MODEL"));
        pb.environment().putAll(env);
        Process p = pb.start();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        String out = read(p.getInputStream());
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out, err.join());
    }

    private static String read(java.io.InputStream in) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            // less the JVM's incubator warning, as bin/quantflow filters it
            return r.lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).map(l -> l + System.lineSeparator()).collect(Collectors.joining());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
