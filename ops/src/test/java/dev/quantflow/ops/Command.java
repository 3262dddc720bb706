package dev.quantflow.ops;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Runs an external tool to completion with a time limit, capturing stdout and stderr together. */
record Command(List<String> argv, Path directory, Duration timeout) {

    record Result(int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }
    }

    static Command of(Path directory, Duration timeout, String... argv) {
        return new Command(List.of(argv), directory, timeout);
    }

    Result run() throws IOException, InterruptedException {
        Path log = Files.createTempFile("quantflow-ops-", ".log");
        try {
            Process process = new ProcessBuilder(argv)
                    .directory(directory.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor();
                throw new IOException(String.join(" ", argv) + " did not finish within " + timeout + ":\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Result(process.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** Runs and fails with the tool's output when it exits non-zero. */
    String check() throws IOException, InterruptedException {
        Result result = run();
        if (!result.ok()) {
            throw new AssertionError(String.join(" ", argv) + " exited " + result.exitCode() + ":\n" + result.output());
        }
        return result.output();
    }

    /** The executable's path on PATH (or in /usr/sbin, /sbin for root's tools). */
    static Optional<Path> which(String name) {
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin";
        for (String dir : path.split(":")) {
            if (dir.isEmpty()) continue;
            Path candidate = Path.of(dir, name);
            if (Files.isExecutable(candidate)) return Optional.of(candidate);
        }
        return Optional.empty();
    }
}
