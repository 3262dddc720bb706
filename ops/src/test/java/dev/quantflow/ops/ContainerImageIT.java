package dev.quantflow.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The image that `jib:buildTar` wrote at package time (on the locally made base, see
 * ops/src/image/make-local-base.sh): its config says how Kubernetes will run it, and its layers,
 * unpacked into a root filesystem, really start the server as the image's user.
 */
class ContainerImageIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path work;
    private static JsonNode config;
    private static List<Path> layers;

    @BeforeAll
    static void unpack() throws Exception {
        Path tar = Path.of(System.getProperty("quantflow.image.tar", "target/quantflow-image.tar"));
        assertThat(tar).as("the image tarball from jib:buildTar").exists();
        work = OpsPaths.workDir("image");
        Command.of(work, Duration.ofMinutes(2), "tar", "-xf", tar.toAbsolutePath().toString()).check();
        JsonNode manifest = JSON.readTree(work.resolve("manifest.json").toFile()).path(0);
        config = JSON.readTree(work.resolve(manifest.path("Config").asText()).toFile()).path("config");
        layers = new ArrayList<>();
        manifest.path("Layers").forEach(l -> layers.add(work.resolve(l.asText())));
    }

    @Test
    void entrypointRunsTheServerWithTheLaunchersJvmFlags() throws Exception {
        List<String> entrypoint = strings(config.path("Entrypoint"));
        assertThat(entrypoint.getFirst()).isEqualTo("java");
        assertThat(entrypoint.getLast()).isEqualTo("dev.quantflow.server.cli.Main");
        assertThat(entrypoint).containsSubsequence("-cp", "@/app/jib-classpath-file");
        List<String> launcherFlags = OpsPaths.launcherJvmFlags();
        assertThat(launcherFlags).contains("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED");
        for (String flag : launcherFlags) {
            if (flag.startsWith("-Dquantflow.home=")) continue; // the launcher's own folder; /app in the image
            assertThat(entrypoint).as("bin/quantflow's JVM flag %s", flag).contains(flag);
        }
        assertThat(entrypoint).containsSubsequence("--add-modules", "jdk.incubator.vector");
        // bin/quantflow-heap cannot run in the image: the heap is a share of the container's limit (docs/OPERATIONS.md)
        assertThat(entrypoint).contains("-XX:MaxRAMPercentage=25");
        assertThat(strings(config.path("Cmd"))).containsExactly("serve");
    }

    @Test
    void runsAsANonRootUser() {
        String user = config.path("User").asText();
        assertThat(user).matches("\\d+:\\d+");
        assertThat(Integer.parseInt(user.split(":")[0])).isNotZero();
        assertThat(user).isEqualTo(securityContextUser());
    }

    @Test
    void exposesThePortsTheDeploymentUses() throws IOException {
        List<String> exposed = new ArrayList<>();
        config.path("ExposedPorts").fieldNames().forEachRemaining(exposed::add);
        String deployment = Files.readString(OpsPaths.k8s().resolve("base/deployment.yaml"));
        List<String> containerPorts = new ArrayList<>();
        Matcher m = Pattern.compile("containerPort: (\\d+)").matcher(deployment);
        while (m.find()) containerPorts.add(m.group(1) + "/tcp");
        assertThat(exposed).containsExactlyInAnyOrderElementsOf(containerPorts).contains("8080/tcp");
        Map<String, String> env = env();
        assertThat(env).containsEntry("QUANTFLOW_PORT", "8080").containsKey("QUANTFLOW_GRPC_PORT").containsKey("QUANTFLOW_MODEL");
        assertThat(exposed).contains(env.get("QUANTFLOW_GRPC_PORT") + "/tcp");
    }

    @Test
    void theImageStartsTheServerAsItsUserAndAnswersHealthAndMetrics() throws Exception {
        assumeTrue(Tools.isRoot() && Command.which("unshare").isPresent() && Command.which("chroot").isPresent(),
                "running the image needs root (chroot, a PID namespace with its own /proc), as in CI");
        assumeTrue(QuantflowServerProcess.serveCommandExists(), "this build has no `quantflow serve` subcommand yet");
        Path rootfs = Files.createDirectories(work.resolve("rootfs"));
        for (Path layer : layers) {
            Command.of(work, Duration.ofMinutes(2), "tar", "-xzf", layer.toString(), "-C", rootfs.toString(),
                    "--warning=no-unknown-keyword").check();
        }
        Path model = Files.createDirectories(rootfs.resolve("models/model"));
        try (var files = Files.list(SharedData.path("models/stories260K"))) {
            for (Path f : files.toList()) Files.copy(f, model.resolve(f.getFileName()));
        }
        Files.createDirectories(rootfs.resolve("proc"));

        int port = FreePort.pick();
        int grpcPort = FreePort.pick();
        List<String> argv = new ArrayList<>(List.of(Command.which("unshare").orElseThrow().toString(),
                "--mount", "--pid", "--fork", "--kill-child=SIGTERM", "--mount-proc=" + rootfs.resolve("proc"),
                Command.which("chroot").orElseThrow().toString(), "--userspec=" + config.path("User").asText(), rootfs.toString()));
        List<String> entrypoint = new ArrayList<>(strings(config.path("Entrypoint")));
        entrypoint.set(0, resolveOnImagePath(rootfs, entrypoint.getFirst()));
        argv.addAll(entrypoint);
        argv.addAll(strings(config.path("Cmd")));
        ProcessBuilder pb = new ProcessBuilder(argv).directory(rootfs.toFile()).redirectErrorStream(true)
                .redirectOutput(work.resolve("container.log").toFile());
        pb.environment().clear();
        pb.environment().putAll(env());
        pb.environment().put("QUANTFLOW_PORT", Integer.toString(port));
        pb.environment().put("QUANTFLOW_GRPC_PORT", Integer.toString(grpcPort));
        pb.environment().put("QUANTFLOW_HOST", "127.0.0.1");
        Process container = pb.start();
        try {
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
            URI base = URI.create("http://127.0.0.1:" + port);
            Instant deadline = Instant.now().plusSeconds(120);
            int ready = -1;
            while (Instant.now().isBefore(deadline) && container.isAlive()) {
                try {
                    ready = http.send(HttpRequest.newBuilder(base.resolve("/health/ready")).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                    if (ready == 200) break;
                } catch (IOException notYet) {
                    // still starting
                }
                Thread.sleep(250);
            }
            assertThat(ready).as("/health/ready of the container; its log:\n%s", Files.readString(work.resolve("container.log"))).isEqualTo(200);
            String metrics = http.send(HttpRequest.newBuilder(base.resolve("/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertThat(metrics).contains("quantflow_num_requests_waiting", "jvm_memory_used_bytes");
            // the JVM really runs as the image's user, not as root
            String uid = Files.readAllLines(Path.of("/proc", Long.toString(javaPid(container)), "status")).stream()
                    .filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow();
            assertThat(uid.split("\\s+")[1]).isEqualTo(config.path("User").asText().split(":")[0]);
            // the leak check below sees the container's processes (it is not blind)
            assertThat(processesRootedIn(rootfs)).contains(javaPid(container));
        } finally {
            stopTree(container);
        }
        assertNothingLeftIn(rootfs);
    }

    /**
     * SIGTERM to the whole tree, then SIGKILL to what is left after 30 s. The tree is taken while
     * unshare is alive: once it exits, the JVM is re-parented and out of descendants()' reach, and
     * it does not die with unshare (chroot --userspec changes its uid, which clears the
     * parent-death signal --kill-child set). The JVM is PID 1 of its namespace, so when it dies
     * the kernel kills anything else in there.
     */
    private static void stopTree(Process container) throws InterruptedException {
        List<ProcessHandle> tree = new ArrayList<>(container.descendants().toList());
        tree.add(container.toHandle());
        tree.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (ProcessHandle p : tree) {
            try {
                p.onExit().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | ExecutionException stillRunning) {
                p.destroyForcibly();
            }
        }
        container.waitFor();
    }

    /**
     * Fails when a process whose root directory is the unpacked image outlives the test (and kills
     * it, so that a failed run leaves nothing behind either).
     */
    private static void assertNothingLeftIn(Path rootfs) throws IOException, InterruptedException {
        Instant deadline = Instant.now().plusSeconds(10);
        List<Long> left = processesRootedIn(rootfs);
        while (!left.isEmpty() && Instant.now().isBefore(deadline)) {
            Thread.sleep(100);
            left = processesRootedIn(rootfs);
        }
        List<String> described = left.stream().map(pid -> pid + " " + ProcessHandle.of(pid).flatMap(h -> h.info().commandLine()).orElse("?")).toList();
        left.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        assertThat(described).as("processes chrooted into %s still running after the test", rootfs).isEmpty();
    }

    /** The pids whose /proc/PID/root is rootfs: the container's processes, wherever they were re-parented. */
    private static List<Long> processesRootedIn(Path rootfs) throws IOException {
        Path real = rootfs.toRealPath();
        // the magic link resolves to the directory itself, whichever mount namespace the process is in
        List<Long> pids = new ArrayList<>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path proc : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    if (Files.isSameFile(proc.resolve("root"), real)) pids.add(Long.parseLong(proc.getFileName().toString()));
                } catch (IOException gone) {
                    // exited meanwhile
                }
            }
        }
        return pids;
    }

    /** The java process under unshare (chroot execs it, so it is the grandchild). */
    private static long javaPid(Process container) {
        return container.descendants().filter(p -> p.info().command().map(c -> c.endsWith("/java")).orElse(false))
                .findFirst().orElseThrow().pid();
    }

    private static String resolveOnImagePath(Path rootfs, String program) {
        for (String dir : env().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(rootfs.resolve(dir.substring(1)).resolve(program))) return dir + "/" + program;
        }
        throw new AssertionError(program + " is not on the image's PATH " + env().get("PATH"));
    }

    private static Map<String, String> env() {
        Map<String, String> env = new TreeMap<>();
        config.path("Env").forEach(e -> {
            String[] kv = e.asText().split("=", 2);
            env.put(kv[0], kv[1]);
        });
        return env;
    }

    private static String securityContextUser() {
        try {
            String deployment = Files.readString(OpsPaths.k8s().resolve("base/deployment.yaml"));
            Matcher user = Pattern.compile("runAsUser: (\\d+)").matcher(deployment);
            Matcher group = Pattern.compile("runAsGroup: (\\d+)").matcher(deployment);
            assertThat(user.find() && group.find()).isTrue();
            return user.group(1) + ":" + group.group(1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The JVM_FLAGS=( ... ) array of bin/quantflow, word by word. */
    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
