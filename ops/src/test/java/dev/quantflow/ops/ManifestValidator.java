package dev.quantflow.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Offline schema validation of rendered Kubernetes objects: ops/src/test/node/validate-manifests.mjs
 * with the npm package kubernetes-models (validators compiled from the Kubernetes OpenAPI document)
 * and its prometheus-operator and KEDA CRD packages, installed once by `npm ci` from the lock file.
 */
final class ManifestValidator {

    /** One object's verdict. */
    record Verdict(String file, String kind, String name, boolean ok, String error) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path dir;

    private ManifestValidator(Path dir) {
        this.dir = dir;
    }

    static synchronized ManifestValidator install() throws IOException, InterruptedException {
        Path source = OpsPaths.root().resolve("ops/src/test/node");
        Path dir = OpsPaths.root().resolve("ops/target/manifest-validator");
        Files.createDirectories(dir);
        boolean lockChanged = !Files.exists(dir.resolve("package-lock.json"))
                || Files.mismatch(source.resolve("package-lock.json"), dir.resolve("package-lock.json")) != -1;
        for (String name : List.of("package.json", "package-lock.json", "validate-manifests.mjs")) {
            Files.copy(source.resolve(name), dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        }
        if (lockChanged || !Files.isDirectory(dir.resolve("node_modules/kubernetes-models"))) {
            Command.of(dir, Duration.ofMinutes(5), Tools.npm().toString(), "ci", "--no-audit", "--no-fund",
                    "--loglevel=error").check();
        }
        return new ManifestValidator(dir);
    }

    List<Verdict> validate(List<Path> files) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of(Tools.node().toString(), "validate-manifests.mjs"));
        files.forEach(f -> argv.add(f.toAbsolutePath().toString()));
        Command.Result result = new Command(argv, dir, Duration.ofMinutes(2)).run();
        List<Verdict> verdicts = new ArrayList<>();
        for (String line : result.output().lines().toList()) {
            if (!line.startsWith("{")) continue;
            JsonNode v = JSON.readTree(line);
            verdicts.add(new Verdict(v.path("file").asText(), v.path("kind").asText(null), v.path("name").asText(null),
                    v.path("ok").asBoolean(), v.path("error").asText(null)));
        }
        boolean anyFailed = verdicts.stream().anyMatch(v -> !v.ok());
        if (result.exitCode() != (anyFailed ? 1 : 0)) {
            throw new AssertionError("validator exited " + result.exitCode() + ":\n" + result.output());
        }
        return verdicts;
    }
}
