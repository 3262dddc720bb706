package dev.quantflow.server.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.PipelineEngine;
import dev.quantflow.bench.EngineLoadGenerator.LevelResult;
import dev.quantflow.bench.EngineLoadGenerator;
import dev.quantflow.engine.compute.Parallel;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * `quantflow bench engine`: starts the in-process engine and sweeps concurrency levels with the
 * closed-loop load generator. Text: a table on stdout; --json: one JSON object per level on
 * stdout. Stage busy fractions and the configuration go to stderr either way.
 */
@Command(name = "engine", resourceBundle = "dev.quantflow.server.cli.ConfigDefaults", mixinStandardHelpOptions = true,
        description = "Throughput and latency of the in-process engine (continuous batching, pipeline stages) at several concurrency levels.")
public final class EngineBenchCommand implements Callable<Integer> {
    @Mixin
    ModelOption model;

    @Mixin
    EngineOptions engineOptions;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,4,16", description = "Concurrent clients per level (default: ${DEFAULT-VALUE})")
    List<Integer> concurrency;

    @Option(names = "--max-tokens", defaultValue = "128", description = "Tokens each request generates (EOS ignored) (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--prompt-tokens", defaultValue = "32", description = "Prompt length in tokens (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--requests", defaultValue = "0", description = "Requests per level; 0 = max(4, 2 x concurrency) (default: ${DEFAULT-VALUE})")
    int requests;

    @Option(names = "--warmup-requests", defaultValue = "4", description = "Requests run before the first level, not measured (default: ${DEFAULT-VALUE})")
    int warmupRequests;

    @Option(names = "--prompt-file", paramLabel = "FILE", description = "Text the prompts are cut from (default: a built-in paragraph)")
    Path promptFile;

    @Option(names = "--json", description = "One JSON object per level on stdout")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        if (concurrency.stream().anyMatch(c -> c < 1)) throw new QuantflowCommand.UserError("--concurrency levels must be >= 1");
        if (maxTokens < 1 || promptTokens < 2) throw new QuantflowCommand.UserError("--max-tokens must be >= 1 and --prompt-tokens >= 2");
        EngineConfig config = engineOptions.apply(EngineConfig.builder(ConfigDefaults.engine(), model.dir()), model.dir()).build();
        ActorSystem<Void> clients = ActorSystem.create(Behaviors.empty(), "bench-clients");
        try (PipelineEngine engine = PipelineEngine.start(config)) {
            if (promptTokens + maxTokens > engine.settings().positionLimit())
                throw new QuantflowCommand.UserError("--prompt-tokens + --max-tokens = " + (promptTokens + maxTokens) + " exceed the "
                        + engine.settings().positionLimit() + " positions a sequence may use");
            int[] corpus = engine.tokenizer().encode(promptFile == null ? EngineLoadGenerator.DEFAULT_TEXT : Files.readString(promptFile));
            EngineLoadGenerator load = new EngineLoadGenerator(engine, clients, corpus);
            EngineLoadGenerator.Settings settings = new EngineLoadGenerator.Settings(promptTokens, maxTokens);
            err.printf(Locale.ROOT, "engine: %s, stages %s, max batch tokens %d, max seqs %d, KV %d blocks x %d, threads per stage %s of %d%n",
                    engine.modelId(), engine.settings().stages(), config.maxBatchTokens(), config.maxSequences(), engine.settings().kvBlocks(),
                    config.kvBlockSize(), config.stageThreads() == 0 ? "all" : String.valueOf(config.stageThreads()),
                    Parallel.threads());
            if (warmupRequests > 0) load.run(Math.min(warmupRequests, 4), warmupRequests, new EngineLoadGenerator.Settings(promptTokens, Math.min(maxTokens, 32)));
            if (!json) {
                err.println("vs c=1: aggregate tokens/s over the concurrency-1 level's (batching gain; - without that level); "
                        + "rows/step: generated tokens per engine step; stage busy: each stage's compute time over the time a step was in flight");
                out.println("concurrency  requests  tokens/s  vs c=1  TTFT p50/p99 ms    TPOT p50/p99 ms   errors  rows/step  stage busy");
            }
            LevelResult single = null;
            for (int c : concurrency) {
                int n = requests > 0 ? requests : Math.max(4, 2 * c);
                LevelResult r = load.run(c, n, settings);
                if (c == 1 && single == null) single = r;
                print(out, err, r, single, engine.settings().stages().size());
            }
        } finally {
            clients.terminate();
        }
        return 0;
    }

    private void print(PrintWriter out, PrintWriter err, LevelResult r, LevelResult single, int stages) throws Exception {
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("concurrency", r.concurrency());
            o.put("requests", r.requests());
            put(o, "tokens_per_second", r.tokensPerSecond());
            put(o, "ttft_p50_ms", r.ttftP50Ms());
            put(o, "ttft_p99_ms", r.ttftP99Ms());
            put(o, "tpot_p50_ms", r.tpotP50Ms());
            put(o, "tpot_p99_ms", r.tpotP99Ms());
            o.put("errors", r.errors());
            out.println(new ObjectMapper().writeValueAsString(o));
        } else {
            out.printf(Locale.ROOT, "%11d  %8d  %8.1f  %-6s  %8.1f / %-8.1f  %7.2f / %-7.2f  %6d  %9.1f  %s%n", r.concurrency(), r.requests(),
                    r.tokensPerSecond(), single == null ? "-" : String.format(Locale.ROOT, "%.2f", r.tokensPerSecond() / single.tokensPerSecond()),
                    r.ttftP50Ms(), r.ttftP99Ms(), r.tpotP50Ms(), r.tpotP99Ms(), r.errors(), r.meanBatchRows(), busy(r.stageBusy()));
        }
        out.flush();
        int m = Math.min(r.concurrency(), stages);
        err.printf(Locale.ROOT, "concurrency %d: %d tokens in %.2f s; stage busy %s; bubble bound (S-1)/(S-1+M) = %.3f with S=%d, M=%d%n",
                r.concurrency(), r.generatedTokens(), r.seconds(), busy(r.stageBusy()), (stages - 1.0) / (stages - 1 + m), stages, m);
    }

    private static String busy(double[] b) {
        return Arrays.toString(Arrays.stream(b).mapToObj(x -> String.format(Locale.ROOT, "%.2f", x)).toArray());
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    /** Rounded to 0.01; null where nothing was measured (every request failed), since JSON has no NaN. */
    private static void put(ObjectNode o, String key, double v) {
        if (Double.isNaN(v)) o.putNull(key);
        else o.put(key, round(v));
    }
}
