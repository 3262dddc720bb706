package dev.quantflow.server.integration;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** `quantflow serve` on a port in use says so in one line and exits 2, without a stack trace. */
class BusyPortTest {
    @Test
    void busyPortIsOneLineAndExitTwo() throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            String java = ProcessHandle.current().info().command().orElse("java");
            // the shipped logging configuration, not the tests' logback-test.xml
            String logback = Path.of(BusyPortTest.class.getClassLoader().getResource("logback.xml").toURI()).toString();
            Process p = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                    "--sun-misc-unsafe-memory-access=allow", "-Dlogback.configurationFile=" + logback, "-cp", System.getProperty("java.class.path"), "dev.quantflow.server.cli.Main",
                    "serve", "--model", Reference.MODEL.toString(), "--host", "127.0.0.1", "--port", Integer.toString(busy.getLocalPort()),
                    "--grpc-port", "-1", "--no-access-log").redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            try {
                assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
                List<String> stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).lines()
                        .filter(l -> !l.contains("jdk.incubator.vector")).toList();
                assertThat(p.exitValue()).as(String.join("\n", stderr)).isEqualTo(2);
                assertThat(stderr).as(String.join("\n", stderr))
                        .noneMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by") || l.contains("BindException:"))
                        .anyMatch(l -> l.startsWith("quantflow: cannot listen on 127.0.0.1:" + busy.getLocalPort()) && l.contains("in use"));
            } finally {
                p.destroyForcibly();
            }
        }
    }
}
