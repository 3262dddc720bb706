package dev.quantflow.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The multi-node pipeline as operators run it: real `bin/quantflow` processes on loopback, a
 * frontend (serve --role frontend) and one stage node per layer range (quantflow stage --layers).
 * Greedy outputs of 32 concurrent requests equal the single-JVM server's; a SIGKILLed stage node
 * ends every stream in flight with an error within the detection time (docs/OPERATIONS.md,
 * Multi-node: heartbeat 1 s + acceptable pause 3 s), readiness turns false, and a replacement
 * node restores it with exact outputs; a paused node (SIGSTOP, as a partition) is downed by the
 * split-brain resolver of the frontend's side and replaced the same way, and once resumed exits on its own.
 */
class MultiNodeClusterIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Failure detection (about 4 s) plus slack for a loaded 2-core CI machine. */
    private static final Duration DETECTION_LIMIT = Duration.ofSeconds(15);
    private static final Duration START_LIMIT = Duration.ofSeconds(240);

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Node> started = new CopyOnWriteArrayList<>();

    @AfterEach
    void stopEveryProcess() throws InterruptedException {
        for (Node n : started) n.kill();
    }

    @Test
    void stories260KSurvivesAStageCrash() throws Exception {
        Path model = model("stories260K");
        Path work = OpsPaths.workDir("multi-node-stories260K");
        List<String> prompts = prompts();
        Map<String, String> reference = referenceOutputs(model, work, prompts);

        Cluster c = cluster(model, work);
        assertThat(complete(c.frontend, prompts)).as("the cluster's greedy outputs").isEqualTo(reference);
        String metrics = http.send(HttpRequest.newBuilder(uri(c.frontend, "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        // every series also carries the model_name label (labels in alphabetical order)
        assertThat(metrics).containsPattern("quantflow_cluster_members\\{model_name=\"[^\"]+\",status=\"up\"} 3\\.0")
                .containsPattern("quantflow_cluster_members\\{model_name=\"[^\"]+\",status=\"unreachable\"} 0\\.0")
                .containsPattern("quantflow_pipeline_hop_bytes_total\\{hop=\"stage0->stage1\",model_name=\"[^\"]+\"} [1-9]");
        assertStageNodeMetrics(c);

        // SIGKILL stage 1 with streams in flight: each ends with an error event, within the detection time
        List<CompletableFuture<StreamEnd>> streams = startStreams(c.frontend, 6);
        long killedAt = System.nanoTime();
        c.stages.get(1).process.destroyForcibly();
        assertStreamsFail(streams, killedAt);
        awaitReadiness(c.frontend, false, DETECTION_LIMIT);
        Node replacement = stage(c, c.layers.get(1), "stage-1b", work);
        awaitReadiness(c.frontend, true, START_LIMIT);
        assertThat(complete(c.frontend, prompts)).as("after a replacement stage node joined").isEqualTo(reference);

        assertThat(replacement.process.isAlive()).isTrue();
    }

    /**
     * A paused stage node (SIGSTOP: its heartbeats stop, as when its link is cut) is a partition the
     * split-brain resolver ends the same way every time (keep-oldest by the frontend role, stable-after
     * 5 s, down-all-when-unstable off): the frontend's side downs the paused node, a replacement
     * restores service, and the paused node, resumed, finds itself downed and exits on its own. The
     * frontend and the other stage node stay up throughout, and no node decides to down everyone.
     */
    @Test
    void stories260KPartitionIsResolvedBySplitBrainResolver() throws Exception {
        Path model = model("stories260K");
        Path work = OpsPaths.workDir("multi-node-stories260K-partition");
        List<String> prompts = prompts();
        Map<String, String> reference = referenceOutputs(model, work, prompts);
        Cluster c = cluster(model, work);
        assertThat(complete(c.frontend, prompts)).as("the cluster's greedy outputs").isEqualTo(reference);
        List<CompletableFuture<StreamEnd>> streams = startStreams(c.frontend, 6);
        long pausedAt = System.nanoTime();
        Node paused = c.stages.getFirst();
        Node other = c.stages.get(1);
        String pausedAddress = nodeAddress(paused);
        signal(paused, "STOP");
        assertStreamsFail(streams, pausedAt);
        awaitReadiness(c.frontend, false, DETECTION_LIMIT);
        Node replacement = stage(c, c.layers.get(0), "stage-0b", work);
        awaitReadiness(c.frontend, true, START_LIMIT);
        // the frontend's side (whichever of its nodes leads it) downed the paused node, by keep-oldest, not by instability
        long end = System.nanoTime() + DETECTION_LIMIT.toNanos();
        String frontendSide = "";
        while (System.nanoTime() < end) {
            frontendSide = c.frontend.log() + other.log() + replacement.log();
            if (frontendSide.lines().anyMatch(l -> l.contains("SBR took decision DownUnreachable") && downedIn(l).contains(pausedAddress))) break;
            Thread.sleep(200);
        }
        assertThat(frontendSide.lines().filter(l -> l.contains("SBR took decision DownUnreachable") && downedIn(l).contains(pausedAddress)))
                .as("a DownUnreachable decision of the frontend's side naming " + pausedAddress + ":\n" + sbrLines(frontendSide)).isNotEmpty();
        // resumed, the paused node learns it was downed and exits by itself, saying so
        long resumedAt = System.nanoTime();
        signal(paused, "CONT");
        assertThat(paused.process.waitFor(60, TimeUnit.SECONDS)).as("the resumed node exits by itself within 60 s:\n" + paused.log()).isTrue();
        System.out.printf("partition: the resumed node exited %.1f s after SIGCONT%n", (System.nanoTime() - resumedAt) / 1e9);
        assertThat(paused.log()).contains("this node was downed by the cluster");
        for (Node n : List.of(c.frontend, other, replacement)) {
            assertThat(n.process.isAlive()).as(n.name() + " is still running:\n" + n.log()).isTrue();
            assertThat(n.log()).as(n.name() + " never downs everyone nor itself").doesNotContain("SBR took decision DownAll")
                    .doesNotContain("SBR detected instability").doesNotContain("including myself");
        }
        assertThat(complete(c.frontend, prompts)).as("after the partition was resolved").isEqualTo(reference);
    }

    /** The node addresses a decision line downs ("... is downing [a, b] ..."). */
    private static String downedIn(String sbrLine) {
        Matcher m = Pattern.compile("is downing \\[([^]]*)]").matcher(sbrLine);
        return m.find() ? m.group(1) : "";
    }

    private static String sbrLines(String log) {
        return String.join("\n", log.lines().filter(l -> l.contains("SBR")).toList());
    }

    /** A stage node's cluster address, from its log ("stage node pekko://...@host:port for layers ..."). */
    private static String nodeAddress(Node n) throws Exception {
        long end = System.nanoTime() + START_LIMIT.toNanos();
        while (System.nanoTime() < end) {
            Matcher m = Pattern.compile("stage node (pekko://\\S+) for layers").matcher(n.log());
            if (m.find()) return m.group(1);
            Thread.sleep(100);
        }
        throw new AssertionError(n.name() + " never logged its address:\n" + n.log());
    }

    /**
     * bf16 activations on the wire (serve --wire-activations bf16): half the bytes per hop. The sender
     * rounds, so the cluster's greedy outputs equal a single JVM's with the same option exactly; against
     * fp32 they are close, not equal: at least 24 of the 32 greedy outputs must stay the same (30 measured).
     */
    @Test
    void stories260KBf16WireHalvesTheBytesAndStaysClose() throws Exception {
        Path model = model("stories260K");
        Path work = OpsPaths.workDir("multi-node-stories260K-bf16");
        List<String> prompts = prompts();
        Map<String, String> fp32 = referenceOutputs(model, work, prompts);
        Map<String, String> bf16Single = referenceOutputs(model, work, prompts, "--wire-activations", "bf16");
        Cluster c = cluster(model, work, "--wire-activations", "bf16");
        assertThat(complete(c.frontend, prompts)).as("bf16 across JVMs equals bf16 in one JVM").isEqualTo(bf16Single);
        long same = prompts.stream().filter(p -> fp32.get(p).equals(bf16Single.get(p))).count();
        System.out.printf("bf16 wire: %d of %d greedy outputs equal fp32's%n", same, prompts.size());
        assertThat(same).as("outputs equal to fp32's (30 of 32 when measured)").isGreaterThanOrEqualTo(24);
        long[] bytes = assertStageNodeMetrics(c);
        long hidden = JSON.readTree(Files.readString(model.resolve("config.json"))).get("hidden_size").asLong();
        assertThat(bytes[0] % (2 * hidden)).as("stage 0 sent whole bf16 rows of %d values", hidden).isZero();
        System.out.printf("bf16 wire: stage 0 sent %d bytes = %d token rows x %d B%n", bytes[0], bytes[0] / (2 * hidden), 2 * hidden);
    }

    /**
     * Each stage node's own /metrics: steps ran, the hop into it timed, and the bytes stage 0 sent are
     * the bytes stage 1 received, which the frontend's hop counter (its plan's arithmetic) also says.
     * Returns {stage 0's sent bytes, stage 1's received bytes}.
     */
    private long[] assertStageNodeMetrics(Cluster c) throws Exception {
        String s0 = scrape(c.stages.get(0)), s1 = scrape(c.stages.get(1));
        assertThat(value(s0, "quantflow_stage_node_step_seconds_count", "0")).as("stage 0's steps:\n" + s0).isPositive();
        assertThat(value(s1, "quantflow_stage_node_step_seconds_count", "1")).as("stage 1's steps").isPositive();
        assertThat(value(s1, "quantflow_stage_node_hop_seconds_count", "1")).as("stage 1's timed hops").isPositive();
        assertThat(value(s1, "quantflow_stage_node_hop_seconds_sum", "1")).as("stage 1's hop time").isPositive();
        long sent = (long) value(s0, "quantflow_stage_node_sent_bytes_total", "0");
        long received = (long) value(s1, "quantflow_stage_node_received_bytes_total", "1");
        assertThat(sent).isPositive().isEqualTo(received);
        // the frontend's gauge reads its engine snapshot, taken now and then: wait for the latest
        long end = System.nanoTime() + DETECTION_LIMIT.toNanos();
        long counted = -1;
        while (counted != received && System.nanoTime() < end) {
            String frontend = http.send(HttpRequest.newBuilder(uri(c.frontend, "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher hop = Pattern.compile("quantflow_pipeline_hop_bytes_total\\{hop=\"stage0->stage1\",[^}]*} (\\S+)").matcher(frontend);
            counted = hop.find() ? (long) Double.parseDouble(hop.group(1)) : -1;
            if (counted != received) Thread.sleep(250);
        }
        assertThat(counted).as("the frontend's count of the hop's bytes").isEqualTo(received);
        return new long[] {sent, received};
    }

    private String scrape(Node stage) throws Exception {
        long end = System.nanoTime() + START_LIMIT.toNanos();
        while (stage.httpPort() < 0 && System.nanoTime() < end) Thread.sleep(100);
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri(stage, "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }

    /** The value of a stage node series (labels layers, stage). */
    private static double value(String scrape, String series, String stage) {
        Matcher m = Pattern.compile(Pattern.quote(series) + "\\{layers=\"[^\"]+\",stage=\"" + stage + "\"} (\\S+)").matcher(scrape);
        assertThat(m.find()).as(series + " for stage " + stage + " in:\n" + scrape).isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void sotu6MGreedyOutputsEqualTheSingleJvmServer() throws Exception {
        Path model = model("sotu6M");
        Path work = OpsPaths.workDir("multi-node-sotu6M");
        List<String> prompts = prompts();
        Map<String, String> reference = referenceOutputs(model, work, prompts);
        Cluster c = cluster(model, work);
        assertThat(complete(c.frontend, prompts)).isEqualTo(reference);
    }

    // ---- the processes -----------------------------------------------------------------------

    /** A process; a server's HTTP port is the one it logs (it binds port 0, so no other process can take it first). */
    private record Node(String name, Process process, Path logFile, int clusterPort) {
        private static final Pattern SERVING = Pattern.compile("(?:serving .* on|stage node metrics on) http://127\\.0\\.0\\.1:(\\d+)");

        String log() throws IOException {
            return Files.exists(logFile) ? Files.readString(logFile) : "";
        }

        int httpPort() throws IOException {
            Matcher m = SERVING.matcher(log());
            return m.find() ? Integer.parseInt(m.group(1)) : -1;
        }

        void kill() throws InterruptedException {
            if (!process.isAlive()) return;
            process.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            signal(this, "CONT");   // a stopped JVM takes SIGKILL too, but leave nothing paused behind
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    private record Cluster(Node frontend, List<Node> stages, List<String> layers) {}

    private static Path model(String name) {
        Path shared = Path.of(System.getProperty("quantflow.shared", "../shared"));
        Path dir = shared.resolve("models").resolve(name);
        assumeTrue(Files.isDirectory(dir), "needs " + dir);
        return dir.toAbsolutePath();
    }

    private Node launch(String name, Path work, int clusterPort, String... args) throws IOException {
        Path root = OpsPaths.root();
        Path jar = root.resolve("server/target/quantflow-server.jar");
        assumeTrue(Files.isRegularFile(jar), "needs the packaged server (" + jar + "): run through ./mvnw verify");
        List<String> cmd = new ArrayList<>(List.of(root.resolve("bin/quantflow").toString()));
        cmd.addAll(List.of(args));
        Path log = work.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("QUANTFLOW_NO_BUILD", "1");   // the reactor just built it
        pb.environment().put("QUANTFLOW_HEAP", "384m");
        Node n = new Node(name, pb.start(), log, clusterPort);
        started.add(n);
        return n;
    }

    private static List<String> serveFlags(Path model, String... extra) {
        // two stages of one thread each: the same plan (and arithmetic) in the single JVM and in the cluster
        List<String> flags = new ArrayList<>(List.of("serve", "--model", model.toString(), "--host", "127.0.0.1", "--port", "0", "--grpc-port", "-1",
                "--stages", "2", "--stage-threads", "1", "--drain-timeout", "5s", "--no-access-log"));
        flags.addAll(List.of(extra));
        return flags;
    }

    private Map<String, String> referenceOutputs(Path model, Path work, List<String> prompts, String... extra) throws Exception {
        Node single = launch("single-jvm" + String.join("", extra).replace("-", ""), work, -1, serveFlags(model, extra).toArray(String[]::new));
        awaitReadiness(single, true, START_LIMIT);
        Map<String, String> out = complete(single, prompts);
        single.process.destroy();
        assertThat(single.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return out;
    }

    private Cluster cluster(Path model, Path work, String... extra) throws Exception {
        // the frontend is its own seed, so its cluster port is chosen here; another process may take it first: try again
        Node frontend = null;
        List<String> layers = null;
        for (int attempt = 0; layers == null && attempt < 3; attempt++) {
            int clusterPort = FreePort.pick();
            List<String> flags = new ArrayList<>(serveFlags(model, extra));
            flags.addAll(List.of("--role", "frontend", "--cluster-host", "127.0.0.1", "--cluster-port", Integer.toString(clusterPort),
                    "--cluster-seed", "127.0.0.1:" + clusterPort));
            frontend = launch("frontend", work, clusterPort, flags.toArray(String[]::new));
            layers = awaitLayerRanges(frontend);
        }
        assertThat(layers).as("the frontend started:\n" + frontend.log()).isNotNull();
        Cluster c = new Cluster(frontend, new ArrayList<>(), layers);
        for (int k = 0; k < layers.size(); k++) stage(c, layers.get(k), "stage-" + k, work);
        awaitReadiness(frontend, true, START_LIMIT);
        return c;
    }

    private Node stage(Cluster c, String layers, String name, Path work) throws IOException {
        Node n = launch(name, work, 0, "stage", "--layers", layers, "--cluster-host", "127.0.0.1", "--cluster-port", "0",
                "--cluster-seed", "127.0.0.1:" + c.frontend.clusterPort, "--metrics-port", "0");
        c.stages.add(n);
        return n;
    }

    /** The layer ranges the frontend waits for, from its log (quantflow stage --layers a-b); null if it exited. */
    private static List<String> awaitLayerRanges(Node frontend) throws Exception {
        long end = System.nanoTime() + START_LIMIT.toNanos();
        while (System.nanoTime() < end) {
            if (!frontend.process.isAlive()) return null;
            List<String> ranges = frontend.log().lines().filter(l -> l.contains("waiting for a stage node for layers"))
                    .map(l -> l.replaceAll(".*quantflow stage --layers (\\d+-\\d+).*", "$1")).toList();
            if (ranges.size() == 2) return ranges;
            Thread.sleep(250);
        }
        throw new AssertionError("the frontend never named its layer ranges:\n" + frontend.log());
    }

    private static void signal(Node n, String signal) throws InterruptedException {
        try {
            new ProcessBuilder("kill", "-" + signal, Long.toString(n.process.pid())).start().waitFor();
        } catch (IOException e) {
            throw new AssertionError("kill -" + signal, e);
        }
    }

    // ---- HTTP --------------------------------------------------------------------------------

    private void awaitReadiness(Node n, boolean ready, Duration limit) throws Exception {
        long end = System.nanoTime() + limit.toNanos();
        int status = -1;
        while (System.nanoTime() < end) {
            assertThat(n.process.isAlive()).as(n.name + " exited:\n" + n.log()).isTrue();
            try {
                status = http.send(HttpRequest.newBuilder(uri(n, "/health/ready")).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode();
                if ((status == 200) == ready) return;
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new AssertionError(n.name + " readiness not " + ready + " within " + limit + " (last status " + status + "):\n" + n.log());
    }

    private static URI uri(Node n, String path) throws IOException {
        int port = n.httpPort();
        if (port < 0) throw new IOException(n.name() + " is not listening yet");
        return URI.create("http://127.0.0.1:" + port + path);
    }

    private static List<String> prompts() {
        List<String> starts = List.of("Once upon a time", "The little dog", "One day, Lily", "Tom and his mom", "The sun was", "A big red ball",
                "In the park", "The cat said");
        return Stream.iterate(0, i -> i + 1).limit(32).map(i -> starts.get(i % starts.size()) + (i < starts.size() ? "" : " " + i)).toList();
    }

    /** The prompts at once, greedy: text by prompt. */
    private Map<String, String> complete(Node n, List<String> prompts) throws Exception {
        Map<String, CompletableFuture<HttpResponse<String>>> pending = new LinkedHashMap<>();
        for (String p : prompts) {
            String body = JSON.writeValueAsString(Map.of("prompt", p, "max_tokens", 24, "temperature", 0));
            pending.put(p, http.sendAsync(HttpRequest.newBuilder(uri(n, "/v1/completions")).timeout(Duration.ofSeconds(120))
                    .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (var e : pending.entrySet()) {
            HttpResponse<String> r = e.getValue().get(180, TimeUnit.SECONDS);
            assertThat(r.statusCode()).as(e.getKey() + ": " + r.body()).isEqualTo(200);
            out.put(e.getKey(), JSON.readTree(r.body()).get("choices").get(0).get("text").asText());
        }
        return out;
    }

    private record StreamEnd(List<String> events, long endedAt) {}

    /** Long streams, each returned once it has sent its first token (so it is in flight). */
    private List<CompletableFuture<StreamEnd>> startStreams(Node n, int count) throws Exception {
        List<CompletableFuture<StreamEnd>> ends = new ArrayList<>();
        List<CompletableFuture<Void>> firstTokens = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String body = JSON.writeValueAsString(Map.of("prompt", "Once upon a time " + i, "max_tokens", 480, "temperature", 0, "stream", true,
                    "ignore_eos", true));
            CompletableFuture<Void> first = new CompletableFuture<>();
            firstTokens.add(first);
            List<String> events = new CopyOnWriteArrayList<>();
            ends.add(http.sendAsync(HttpRequest.newBuilder(uri(n, "/v1/completions")).header("content-type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines())
                    .thenApply(r -> {
                        r.body().filter(l -> l.startsWith("data: ")).forEach(l -> {
                            events.add(l.substring(6));
                            first.complete(null);
                        });
                        first.complete(null);
                        return new StreamEnd(events, System.nanoTime());
                    }));
        }
        CompletableFuture.allOf(firstTokens.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
        return ends;
    }

    private static void assertStreamsFail(List<CompletableFuture<StreamEnd>> streams, long failedAt) throws Exception {
        for (CompletableFuture<StreamEnd> s : streams) {
            StreamEnd end = s.get(DETECTION_LIMIT.toSeconds() + 30, TimeUnit.SECONDS);
            assertThat(Duration.ofNanos(end.endedAt() - failedAt)).as("the stream ended within the detection time").isLessThan(DETECTION_LIMIT);
            List<String> data = end.events().stream().filter(d -> !d.equals("[DONE]")).toList();
            JsonNode last = JSON.readTree(data.getLast());
            assertThat(last.has("error")).as("the last event is an error: " + data.getLast()).isTrue();
            assertThat(last.get("error").get("message").asText()).contains("no live worker for pipeline stage");
        }
    }
}
