package dev.quantflow.server.cli;

import dev.quantflow.bench.ServeLoadGenerator.LevelResult;
import dev.quantflow.bench.ServeLoadGenerator;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * `quantflow bench serve`: load on a running server's OpenAI API with streaming clients, at
 * several concurrency levels; throughput, TTFT/TPOT/end-to-end percentiles, errors, and (unless
 * --no-verify) that every stream's text equals its prompt's single-request greedy text. Text: a
 * table on stdout and a progress bar on stderr; --json: one JSON object per level on stdout.
 * Exit status 3 when any request failed or any text differed. Several --url servers (e.g. one
 * setting on and one off) take turns at every level, --rounds times, so that they are compared
 * under the same machine load; their streams are all checked against the first one's references.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Load-test a running server (streaming OpenAI completions) at several concurrency levels.")
public final class ServeBenchCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--url", split = ",", defaultValue = "http://127.0.0.1:8080",
            description = "The server, or several (comma-separated) that take turns at every level (default: ${DEFAULT-VALUE})")
    List<URI> urls;

    @Option(names = "--rounds", defaultValue = "1", description = "Times each level runs on each server, alternating servers (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--system-prompt", paramLabel = "FILE",
            description = "A chat workload: every request is a chat completion with this file's text as the system message and a prompt as the user's")
    Path systemPrompt;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32,64", description = "Concurrent streams per level (default: ${DEFAULT-VALUE})")
    List<Integer> concurrency;

    @Option(names = "--requests", defaultValue = "0", description = "Requests per level; 0 = max(8, 4 x concurrency) unless --duration (default: ${DEFAULT-VALUE})")
    int requests;

    @Option(names = "--duration", paramLabel = "SECONDS", description = "Run each level this many seconds instead of a request count")
    Double durationSeconds;

    @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens per request (EOS ignored) (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Bearer key (default: $QUANTFLOW_API_KEY)")
    String apiKey;

    @Option(names = "--model", description = "Model id to send (default: none, the server's)")
    String model;

    @Option(names = "--prompts", paramLabel = "FILE", description = "Prompts, one per line (default: sentences of ../shared/data/tinystories_sample.txt)")
    Path prompts;

    @Option(names = "--no-verify", description = "Skip the check that every stream's text equals its single-request text")
    boolean noVerify;

    @Option(names = "--json", description = "One JSON object per level on stdout")
    boolean json;

    @Option(names = "--no-progress", description = "No progress bar on stderr")
    boolean noProgress;

    @Option(names = "--timeout", defaultValue = "600", paramLabel = "SECONDS", description = "Per-request timeout (default: ${DEFAULT-VALUE})")
    int timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        if (concurrency.stream().anyMatch(c -> c < 1)) throw new QuantflowCommand.UserError("--concurrency levels must be >= 1");
        if (maxTokens < 1) throw new QuantflowCommand.UserError("--max-tokens must be >= 1");
        if (requests < 0) throw new QuantflowCommand.UserError("--requests must be >= 0");
        if (durationSeconds != null && !(durationSeconds > 0)) throw new QuantflowCommand.UserError("--duration must be > 0");
        if (rounds < 1) throw new QuantflowCommand.UserError("--rounds must be >= 1");
        for (URI url : urls)
            if (url.getScheme() == null || !url.getScheme().startsWith("http")) throw new QuantflowCommand.UserError("--url must be http://HOST:PORT");
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Optional<String> key = Optional.ofNullable(apiKey).or(() -> Optional.ofNullable(System.getenv("QUANTFLOW_API_KEY"))).filter(k -> !k.isBlank());
        Optional<String> system = Optional.empty();
        if (systemPrompt != null) {
            if (!Files.isRegularFile(systemPrompt)) throw new QuantflowCommand.UserError(systemPrompt + ": system prompt file does not exist");
            system = Optional.of(Files.readString(systemPrompt, StandardCharsets.UTF_8).strip());
        }
        List<ServeLoadGenerator> loads = new ArrayList<>();
        for (URI url : urls)
            loads.add(new ServeLoadGenerator(new ServeLoadGenerator.Settings(url, key, Optional.ofNullable(model), maxTokens, prompts(),
                    Duration.ofSeconds(timeoutSeconds), system)));
        List<String> references = List.of();
        if (!noVerify) {
            err.printf(Locale.ROOT, "references: %d prompts, one request at a time ...%n", prompts().size());
            references = loads.getFirst().references();
        }
        boolean several = urls.size() > 1;
        if (!json) out.println((several ? "server  " : "") + "concurrency  requests  errors  mismatch  tokens/s   req/s   TTFT p50/p90/p99 ms      TPOT p50/p90/p99 ms   E2E p50/p90/p99 ms");
        boolean clean = true;
        for (int c : concurrency) {
            for (int round = 0; round < rounds; round++) {
                for (int u = 0; u < loads.size(); u++) {
                    int n = durationSeconds != null ? 0 : requests > 0 ? requests : Math.max(8, 4 * c);
                    Duration d = durationSeconds != null ? Duration.ofMillis((long) (durationSeconds * 1000)) : Duration.ZERO;
                    ProgressBar bar = new ProgressBar(c, noProgress, d, err);
                    LevelResult r = loads.get(u).run(c, n, d, references, bar::update);
                    bar.finish();
                    clean &= r.errors() == 0 && r.mismatches() == 0;
                    if (json) {
                        var o = r.json();
                        if (several) o.put("url", urls.get(u).toString()).put("round", round + 1);
                        out.println(o);
                    } else {
                        out.printf(Locale.ROOT, "%s%11d  %8d  %6d  %8d  %8.1f  %6.2f  %6.1f/%6.1f/%6.1f  %6.2f/%6.2f/%6.2f  %7.0f/%7.0f/%7.0f%n",
                                several ? String.format(Locale.ROOT, "%6d  ", u + 1) : "",
                                c, r.requests(), r.errors(), r.mismatches(), r.tokensPerSecond(), r.requestsPerSecond(),
                                r.ttft().p50() * 1e3, r.ttft().p90() * 1e3, r.ttft().p99() * 1e3, r.tpot().p50() * 1e3, r.tpot().p90() * 1e3, r.tpot().p99() * 1e3,
                                r.e2e().p50() * 1e3, r.e2e().p90() * 1e3, r.e2e().p99() * 1e3);
                    }
                    if (!r.errorKinds().isEmpty()) err.println("errors at concurrency " + c + " on " + urls.get(u) + ": " + r.errorKinds());
                }
            }
        }
        if (several && !json) for (int u = 0; u < urls.size(); u++) out.printf(Locale.ROOT, "server %d: %s%n", u + 1, urls.get(u));
        return clean ? 0 : 3;
    }

    private List<String> cached;

    /** The prompts: the file's non-empty lines, or the first sentences of the TinyStories sample. */
    private List<String> prompts() throws IOException {
        if (cached != null) return cached;
        if (prompts != null) {
            if (!Files.isRegularFile(prompts)) throw new QuantflowCommand.UserError(prompts + ": prompts file does not exist");
            cached = Files.readAllLines(prompts, StandardCharsets.UTF_8).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
            if (cached.isEmpty()) throw new QuantflowCommand.UserError(prompts + ": no prompts in the file");
            return cached;
        }
        Path sample = Path.of(System.getProperty("quantflow.home", ".")).resolve("../shared/data/tinystories_sample.txt").normalize();
        LinkedHashSet<String> out = new LinkedHashSet<>();
        if (Files.isRegularFile(sample)) {
            for (String sentence : Files.readString(sample, StandardCharsets.UTF_8).split("(?<=[.!?])\\s+")) {
                String s = sentence.strip();
                if (s.split("\\s+").length >= 4 && s.length() < 200) out.add(s);
                if (out.size() == 16) break;
            }
        }
        if (out.isEmpty()) out.addAll(List.of("Once upon a time", "The little dog", "Lily and Ben went to the park", "One day", "Tom had a red ball"));
        cached = new ArrayList<>(out);
        return cached;
    }

    /** A one-line progress bar on stderr (or nothing with --no-progress). */
    static final class ProgressBar {
        private final int concurrency;
        private final boolean off;
        private final Duration duration;
        private final PrintWriter err;
        private long lastDraw;

        ProgressBar(int concurrency, boolean off, Duration duration, PrintWriter err) {
            this.err = err;
            this.concurrency = concurrency;
            this.off = off || System.console() == null && System.getenv("QUANTFLOW_PROGRESS") == null;
            this.duration = duration;
        }

        void update(ServeLoadGenerator.Progress p) {
            if (off || System.nanoTime() - lastDraw < 200_000_000L) return;
            lastDraw = System.nanoTime();
            double frac = p.total() > 0 ? (double) p.done() / p.total() : Math.min(1, p.seconds() / Math.max(1e-9, duration.toMillis() / 1e3));
            int width = 30;
            int filled = (int) Math.round(frac * width);
            err.printf(Locale.ROOT, "\rconcurrency %3d [%s%s] %5.1f%%  %d done  %d errors  %.0f tokens/s ", concurrency, "#".repeat(filled),
                    "-".repeat(width - filled), frac * 100, p.done(), p.errors(), p.tokens() / Math.max(1e-9, p.seconds()));
            err.flush();
        }

        void finish() {
            if (!off) {
                err.print("\r" + " ".repeat(100) + "\r");
                err.flush();
            }
        }
    }
}
