package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/quantflow's AOT cache (bin/quantflow-aot): `quantflow aot-cache` writes one for this JDK and these jars, later
 * commands start with it, and one that is stale, corrupt or switched off never changes or breaks a run.
 */
class LauncherAotCacheTest {
    static final Path ROOT = LauncherHeapTest.ROOT;

    @TempDir
    Path tmp;

    record Out(int code, String out, String err) {}

    private Out run(Map<String, String> env, List<String> cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("QUANTFLOW_"));
        pb.environment().putAll(Map.of("QUANTFLOW_AOT_DIR", tmp.resolve("aot").toString(), "QUANTFLOW_NO_BUILD", "1", "QUANTFLOW_HEAP", "256m"));
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            var err = p.getErrorStream();
            var errText = new java.util.concurrent.CompletableFuture<String>();
            Thread.ofVirtual().start(() -> {
                try {
                    errText.complete(new String(err.readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    errText.completeExceptionally(e);
                }
            });
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertThat(p.waitFor(240, TimeUnit.SECONDS)).as("finished").isTrue();
            return new Out(p.exitValue(), out, errText.get(10, TimeUnit.SECONDS));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private Out quantflow(Map<String, String> env, String... args) {
        List<String> cmd = new ArrayList<>(List.of(ROOT.resolve("bin/quantflow").toString()));
        cmd.addAll(List.of(args));
        return run(env, cmd);
    }

    private Out aotScript(String mode, String classPath) {
        return run(Map.of(), List.of("bash", ROOT.resolve("bin/quantflow-aot").toString(), mode, System.getProperty("java.home"), classPath, "--flag"));
    }

    @Test
    void theCacheIsNamedByTheJarsAndUsedOnlyWhenPresent() throws IOException {
        Path lib = Files.createDirectories(tmp.resolve("lib"));
        Path a = Files.writeString(lib.resolve("a.jar"), "a"), app = Files.writeString(tmp.resolve("app.jar"), "app");
        String cp = app + ":" + lib + "/*";
        String path = aotScript("path", cp).out();
        assertThat(path).startsWith(tmp.resolve("aot").toString()).endsWith(".aot");
        assertThat(aotScript("path", cp).out()).isEqualTo(path);
        assertThat(aotScript("flag", cp).out()).as("no cache yet").isEmpty();
        Files.createDirectories(tmp.resolve("aot"));
        Files.writeString(Path.of(path), "cache");
        assertThat(aotScript("flag", cp).out()).isEqualTo("-XX:AOTCache=" + path);
        // a rebuilt jar (another time stamp) or another jar in lib/ names another file: the old cache is not used
        Files.setLastModifiedTime(a, FileTime.fromMillis(Files.getLastModifiedTime(a).toMillis() - 60_000));
        assertThat(aotScript("path", cp).out()).isNotEqualTo(path);
        assertThat(aotScript("flag", cp).out()).isEmpty();
        Files.setLastModifiedTime(a, FileTime.fromMillis(Files.getLastModifiedTime(a).toMillis() + 60_000));
        assertThat(aotScript("flag", cp).out()).isEqualTo("-XX:AOTCache=" + path);
        Files.writeString(lib.resolve("b.jar"), "b");
        assertThat(aotScript("flag", cp).out()).isEmpty();
        assertThat(run(Map.of(), List.of("bash", ROOT.resolve("bin/quantflow-aot").toString(), "make", "x", cp)).code()).isEqualTo(2);
    }

    @Test
    void aotCacheIsMadeUsedAndNeverChangesOrBreaksARun() throws IOException {
        assumeTrue(Files.isRegularFile(ROOT.resolve("server/target/quantflow-server.jar")), "needs the packaged server (./mvnw package -pl server -am)");
        Path model = ROOT.resolve("../shared/models/stories260K").normalize();
        assumeTrue(Files.isDirectory(model), "needs " + model);
        String[] generate = {"generate", "--model", model.toString(), "--max-tokens", "12", "--ids", "--prompt", "Once upon a time"};
        Out plain = quantflow(Map.of("QUANTFLOW_AOT", "off"), generate);
        assertThat(plain.code()).as(plain.err()).isZero();

        Out made = quantflow(Map.of(), "aot-cache", "--model", model.toString(), "--max-tokens", "8");
        assertThat(made.code()).as(made.err()).isZero();
        assertThat(made.err()).contains("aot-cache: wrote").doesNotContain("JAVA_TOOL_OPTIONS");
        List<Path> caches;
        try (Stream<Path> s = Files.list(tmp.resolve("aot"))) {
            caches = s.toList();
        }
        assertThat(caches).as("one cache, no temporary files left").hasSize(1);
        assertThat(caches.getFirst().toString()).endsWith(".aot");

        Out cached = quantflow(Map.of("QUANTFLOW_JAVA_OPTS", "-Xlog:aot=info:stderr"), generate);
        assertThat(cached.code()).as(cached.err()).isZero();
        assertThat(cached.out()).as("the same greedy ids with the cache").isEqualTo(plain.out());
        assertThat(cached.err()).contains("Opened AOT cache " + caches.getFirst());

        Out off = quantflow(Map.of("QUANTFLOW_AOT", "off", "QUANTFLOW_JAVA_OPTS", "-Xlog:aot=info:stderr"), generate);
        assertThat(off.err()).doesNotContain("Opened AOT cache");

        // a cache the JVM cannot read (here garbage, else e.g. a heap over 32 GB): a warning, and the same run
        Files.writeString(caches.getFirst(), "not an AOT cache");
        Out corrupt = quantflow(Map.of(), generate);
        assertThat(corrupt.code()).as(corrupt.err()).isZero();
        assertThat(corrupt.out()).isEqualTo(plain.out());
        assertThat(corrupt.err()).as("the JVM's warning, on stderr").contains("AOT cache");
    }
}
