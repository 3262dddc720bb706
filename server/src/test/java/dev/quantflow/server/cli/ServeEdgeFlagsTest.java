package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.server.ServerSettings;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The serve flags of the HTTP edge land in quantflow.server; without them the defaults of application.conf hold. */
class ServeEdgeFlagsTest {
    private static ServerSettings parse(String... args) {
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).parseArgs(args);
        return ServerSettings.from(cmd.config());
    }

    @Test
    void flagsOverrideTheDefaults() {
        ServerSettings s = parse("--allowed-origins", "https://app.example.com, http://localhost:3000", "--no-access-log", "--admin-port", "0",
                "--max-connections", "9", "--keep-alive-timeout", "5s");
        assertThat(s.edge().allowedOrigins()).containsExactly("https://app.example.com", "http://localhost:3000");
        assertThat(s.edge().accessLog()).isFalse();
        assertThat(s.edge().maxConnections()).isEqualTo(9);
        assertThat(s.edge().keepAliveTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(s.adminPort()).isZero();
    }

    @Test
    void defaultsAreCorsOffAccessLogOnNoAdminPort() {
        ServerSettings s = parse();
        assertThat(s.edge().allowedOrigins()).isEqualTo(List.of());
        assertThat(s.edge().corsEnabled()).isFalse();
        assertThat(s.edge().accessLog()).isTrue();
        assertThat(s.adminPort()).isEqualTo(-1);
        assertThat(s.edge().headerReadTimeout()).isPositive();
    }

    @Test
    void anOriginWithAPathIsRefused() {
        assertThatThrownBy(() -> parse("--allowed-origins", "https://app.example.com/")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("allowed-origins");
    }
}
