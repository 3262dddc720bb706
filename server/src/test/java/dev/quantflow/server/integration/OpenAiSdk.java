package dev.quantflow.server.integration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * The official openai npm client as a test client: server/src/test/node/openai-sdk (run-cases.mjs,
 * the pinned package and its lock file) is copied to server/target/openai-sdk and installed with
 * `npm ci`, as the ops tests install theirs; each run sends a list of cases and returns, per case
 * name, what the client got (the whole response, or the stream assembled per choice) or the error
 * it raised. Without node and npm, or without a registry to install from, the tests are skipped.
 */
final class OpenAiSdk {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Case(String name, String api, Map<String, Object> body) {}

    private final Path dir;

    private OpenAiSdk(Path dir) {
        this.dir = dir;
    }

    static synchronized OpenAiSdk install() throws IOException, InterruptedException {
        Assumptions.assumeTrue(which("node").isPresent() && which("npm").isPresent(), "node and npm are needed for the openai SDK tests");
        Path source = Path.of("src/test/node/openai-sdk");
        Path dir = Path.of("target/openai-sdk");
        Files.createDirectories(dir);
        boolean lockChanged = !Files.exists(dir.resolve("package-lock.json"))
                || Files.mismatch(source.resolve("package-lock.json"), dir.resolve("package-lock.json")) != -1;
        for (String name : List.of("package.json", "package-lock.json", "run-cases.mjs"))
            Files.copy(source.resolve(name), dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        if (lockChanged || !Files.isDirectory(dir.resolve("node_modules/openai"))) {
            Result r = run(dir, 300, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error");
            Assumptions.assumeTrue(r.exit == 0, "npm ci could not install the openai package (no registry?): " + r.output);
        }
        return new OpenAiSdk(dir);
    }

    /** Runs the cases in order against baseUrl (e.g. http://127.0.0.1:PORT/v1); name -> the client's JSON line. */
    Map<String, JsonNode> run(String baseUrl, List<Case> cases) throws IOException, InterruptedException {
        Path file = Files.createTempFile(dir.toAbsolutePath(), "cases-", ".json");
        try {
            JSON.writeValue(file.toFile(), cases);
            Result r = run(dir, 600, "node", "run-cases.mjs", baseUrl, file.toAbsolutePath().toString());
            if (r.exit != 0) throw new AssertionError("node run-cases.mjs exited " + r.exit + ":\n" + r.output);
            Map<String, JsonNode> out = new LinkedHashMap<>();
            for (String line : r.output.lines().toList()) if (line.startsWith("{")) {
                JsonNode j = JSON.readTree(line);
                out.put(j.get("name").asText(), j);
            }
            for (Case c : cases) if (!out.containsKey(c.name())) throw new AssertionError("no answer for case " + c.name() + ":\n" + r.output);
            return out;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private record Result(int exit, String output) {}

    private static Result run(Path dir, int timeoutSeconds, String... argv) throws IOException, InterruptedException {
        Path log = Files.createTempFile("quantflow-sdk-", ".log");
        try {
            Process p = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError(String.join(" ", argv) + " did not finish within " + timeoutSeconds + " s:\n" + Files.readString(log));
            }
            return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private static Optional<Path> which(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (d.isEmpty()) continue;
            Path c = Path.of(d, name);
            if (Files.isExecutable(c)) return Optional.of(c);
        }
        return Optional.empty();
    }
}
