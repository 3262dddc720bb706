package dev.quantflow.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.server.ServerSettings;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * One configuration: serve's engine comes from quantflow.engine (reference.conf's defaults, the
 * environment, --config FILE, then the flags over them), and every engine setting is reachable there.
 */
class ServeConfigTest {
    private static final String MODEL = SharedData.path("models/stories260K").toString();

    private static ServeCommand serve(String... args) {
        ServeCommand cmd = new ServeCommand();
        List<String> all = new ArrayList<>(List.of("--model", MODEL));
        all.addAll(List.of(args));
        new CommandLine(cmd).parseArgs(all.toArray(String[]::new));
        return cmd;
    }

    @Test
    void withoutFlagsServesReferenceConfsDefaults() {
        EngineConfig served = serve().engineConfig();
        EngineConfig library = EngineConfig.builder(Path.of(MODEL)).build();
        assertThat(served.stages()).isEqualTo(library.stages()).isEqualTo(1);
        assertThat(served.devices()).isEqualTo(library.devices()).containsExactly("cpu");
        assertThat(served.quant()).isEqualTo(library.quant()).isEqualTo("fp32");
        assertThat(served.kvFormat()).isEqualTo(KvFormat.F32);
        assertThat(served.maxBatchTokens()).isEqualTo(library.maxBatchTokens()).isEqualTo(512);
        assertThat(served.maxSequences()).isEqualTo(library.maxSequences()).isEqualTo(32);
        assertThat(served.maxWaiting()).isEqualTo(library.maxWaiting()).isEqualTo(256);
        assertThat(served.kvBlocks()).isEqualTo(library.kvBlocks()).isZero();
        assertThat(served.kvBlockSize()).isEqualTo(library.kvBlockSize()).isEqualTo(16);
        assertThat(served.kvMemoryBytes()).isEqualTo(library.kvMemoryBytes()).isEqualTo(512L << 20);
        assertThat(served.tokenizerWorkers()).isEqualTo(library.tokenizerWorkers()).isEqualTo(2);
        assertThat(served.stageThreads()).isEqualTo(library.stageThreads()).isZero();
        assertThat(served.prefixCaching()).isEqualTo(library.prefixCaching()).isTrue();
        // one warm-up on serve: the server's (on quantflow.engine.warmup), not the engine's too
        assertThat(served.warmup()).isFalse();
        assertThat(ServerSettings.from(serve().config()).warmup()).isTrue();
    }

    @Test
    void aConfigFileSetsEveryEngineKeyAndTheFlagsOverrideIt(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("serve.conf");
        Files.writeString(file, """
                quantflow.engine {
                  stages = 2, devices = "cpu,cpu", quant = w8a16, kv = int8, kv-blocks = 40, kv-block-size = 8, kv-memory = 64 MiB
                  max-batch-tokens = 64, max-seqs = 7, max-waiting = 9, tokenizer-workers = 3, stage-threads = 1, warmup = off
                  prefix-caching = off
                }
                """);
        ServeCommand fromFile = serve("--config", file.toString());
        EngineConfig c = fromFile.engineConfig();
        assertThat(c.stages()).isEqualTo(2);
        assertThat(c.devices()).containsExactly("cpu", "cpu");
        assertThat(c.quant()).isEqualTo("w8a16");
        assertThat(c.kvFormat()).isEqualTo(KvFormat.INT8);
        assertThat(c.kvBlocks()).isEqualTo(40);
        assertThat(c.kvBlockSize()).isEqualTo(8);
        assertThat(c.kvMemoryBytes()).isEqualTo(64L << 20);
        assertThat(c.maxBatchTokens()).isEqualTo(64);
        assertThat(c.maxSequences()).isEqualTo(7);
        assertThat(c.maxWaiting()).isEqualTo(9);
        assertThat(c.tokenizerWorkers()).isEqualTo(3);
        assertThat(c.stageThreads()).isEqualTo(1);
        assertThat(c.prefixCaching()).isFalse();
        assertThat(ServerSettings.from(fromFile.config()).warmup()).isFalse();

        ServeCommand flags = serve("--config", file.toString(), "--max-seqs", "5", "--stages", "1", "--devices", "cpu", "--kv", "f32",
                "--kv-memory", "128MiB", "--stage-threads", "2", "--tokenizer-workers", "4", "--kv-block-size", "32", "--warmup", "--prefix-caching");
        EngineConfig f = flags.engineConfig();
        assertThat(f.maxSequences()).isEqualTo(5);
        assertThat(f.stages()).isEqualTo(1);
        assertThat(f.devices()).containsExactly("cpu");
        assertThat(f.kvFormat()).isEqualTo(KvFormat.F32);
        assertThat(f.kvMemoryBytes()).isEqualTo(128L << 20);
        assertThat(f.stageThreads()).isEqualTo(2);
        assertThat(f.tokenizerWorkers()).isEqualTo(4);
        assertThat(f.kvBlockSize()).isEqualTo(32);
        assertThat(f.prefixCaching()).isTrue();
        assertThat(serve("--no-prefix-caching").engineConfig().prefixCaching()).isFalse();
        assertThat(f.maxBatchTokens()).as("from the file, no flag").isEqualTo(64);
        assertThat(ServerSettings.from(flags.config()).warmup()).isTrue();
    }

    /** stages, devices, quant and warmup were quantflow.server's: a file that still says so is read as quantflow.engine. */
    @Test
    void theOldServerKeysStillReachTheEngine(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("old.conf");
        Files.writeString(file, "quantflow.server { stages = 2, devices = \"cpu\", quant = bf16, warmup = off }\n");
        ServeCommand cmd = serve("--config", file.toString());
        EngineConfig c = cmd.engineConfig();
        assertThat(c.stages()).isEqualTo(2);
        assertThat(c.quant()).isEqualTo("bf16");
        assertThat(ServerSettings.from(cmd.config()).warmup()).isFalse();
        assertThat(serve("--config", file.toString(), "--stages", "1").engineConfig().stages()).as("a flag still wins").isEqualTo(1);
    }

    /** The environment reaches the engine's keys: QUANTFLOW_MAX_SEQS and QUANTFLOW_STAGE_THREADS in a real process, seen in serve's and bench engine's help. */
    @Test
    void theEnvironmentSetsTheDefaultsTheHelpShows() throws Exception {
        assertThat(help("serve")).contains("[quantflow.engine.max-seqs,QUANTFLOW_MAX_SEQS](default:7)")
                .contains("[quantflow.engine.stage-threads,QUANTFLOW_STAGE_THREADS](default:3)")
                .contains("[quantflow.engine.max-batch-tokens,QUANTFLOW_MAX_BATCH_TOKENS](default:"
                        + ConfigFactory.load().getInt("quantflow.engine.max-batch-tokens") + ")");
        assertThat(help("bench", "engine")).contains("[quantflow.engine.max-seqs,QUANTFLOW_MAX_SEQS](default:7)")
                .contains("[quantflow.engine.stage-threads,QUANTFLOW_STAGE_THREADS](default:3)");
    }

    private static String help(String... command) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"), "dev.quantflow.server.cli.Main"));
        cmd.addAll(List.of(command));
        cmd.add("--help");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("QUANTFLOW_MAX_SEQS", "7");
        pb.environment().put("QUANTFLOW_STAGE_THREADS", "3");
        Process p = pb.start();
        String out;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            out = r.lines().collect(Collectors.joining("\n"));
        }
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return out.replaceAll("\\s+", "");   // the help wraps lines, also after a dot: compare without white space
    }
}
