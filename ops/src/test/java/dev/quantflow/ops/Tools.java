package dev.quantflow.ops;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The external tools the operations tests drive. Prometheus and promtool come from Debian's
 * packages: when they are missing and the test runs as root (CI does), they are installed with
 * apt-get; otherwise the test fails with the command to run.
 */
final class Tools {
    private Tools() {}

    private static final Path ROOT_DIR = Path.of("/");

    static Path kubectl() {
        return Command.which("kubectl").orElseThrow(() -> new AssertionError(
                "kubectl (with its built-in kustomize) is not on PATH; machines of this kind ship it"));
    }

    static Path node() {
        return Command.which("node").orElseThrow(() -> new AssertionError("node is not on PATH: apt-get install nodejs npm"));
    }

    static Path npm() {
        return Command.which("npm").orElseThrow(() -> new AssertionError("npm is not on PATH: apt-get install npm"));
    }

    static synchronized Path prometheus() throws IOException, InterruptedException {
        ensurePrometheusInstalled();
        return Command.which("prometheus").orElseThrow();
    }

    static synchronized Path promtool() throws IOException, InterruptedException {
        ensurePrometheusInstalled();
        return Command.which("promtool").orElseThrow();
    }

    private static void ensurePrometheusInstalled() throws IOException, InterruptedException {
        if (Command.which("prometheus").isPresent() && Command.which("promtool").isPresent()) return;
        if (!isRoot()) {
            throw new AssertionError("prometheus/promtool are not installed and this test is not root: "
                    + "run `sudo apt-get update && sudo apt-get install -y prometheus` (.ci/run does)");
        }
        Command.of(ROOT_DIR, Duration.ofMinutes(3), "apt-get", "update", "-qq").check();
        Command.of(ROOT_DIR, Duration.ofMinutes(5), "env", "DEBIAN_FRONTEND=noninteractive",
                "apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus").check();
        if (Command.which("prometheus").isEmpty() || Command.which("promtool").isEmpty()) {
            throw new AssertionError("apt-get installed the prometheus package but prometheus/promtool are not on PATH");
        }
    }

    static boolean isRoot() throws IOException, InterruptedException {
        return Command.of(ROOT_DIR, Duration.ofSeconds(10), "id", "-u").check().strip().equals("0");
    }
}
