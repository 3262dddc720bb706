package dev.quantflow.bench;

import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.sample.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * A closed-loop load generator for the in-process engine: `concurrency` clients each submit a
 * request, read its stream to the end, and submit the next, until `requests` have run. Every
 * request generates exactly maxTokens tokens (EOS ignored) from a prompt of promptTokens ids, so
 * levels compare. Per request it records the time to the first token and the mean time per
 * output token after it; the engine's snapshots before and after give each stage's busy share.
 */
public final class EngineLoadGenerator {
    /** Prompt text for benchmarks: plain story prose, so prompts tokenize like real requests. */
    public static final String DEFAULT_TEXT = """
            The lighthouse keeper climbed the stairs every evening before the sun went down. She counted the steps out loud, \
            one hundred and twelve of them, and at the top she wiped the salt from the glass and lit the lamp. Ships passed \
            far out at sea and never knew her name, but they steered by her light. One winter night a small boat came too \
            close to the rocks. The keeper rang the bell, waved her lantern and shouted until the sailors turned away from \
            the danger. In the morning they rowed back with bread, apples and a letter of thanks, and she kept the letter \
            in a tin box under her bed for the rest of her life.""";

    public record Settings(int promptTokens, int maxTokens) {}

    /** One concurrency level's results. stageBusy[k]: stage k's compute time over the time any step was in flight. */
    public record LevelResult(int concurrency, int requests, int errors, long generatedTokens, double seconds,
                              double tokensPerSecond, double ttftP50Ms, double ttftP99Ms, double tpotP50Ms, double tpotP99Ms,
                              double[] stageBusy, double meanBatchRows) {}

    private record RequestTiming(long submitted, long firstToken, long lastToken, int tokens, boolean failed) {}

    private final InferenceEngine engine;
    private final ClassicActorSystemProvider system;
    private final int[] corpus;   // prompt ids are windows of this
    private final AtomicInteger requestIds = new AtomicInteger();

    public EngineLoadGenerator(InferenceEngine engine, ClassicActorSystemProvider system, int[] corpus) {
        if (corpus.length < 2) throw new IllegalArgumentException("the prompt corpus needs at least 2 tokens");
        this.engine = engine;
        this.system = system;
        this.corpus = corpus;
    }

    public LevelResult run(int concurrency, int requests, Settings settings) throws Exception {
        if (concurrency < 1 || requests < 1) throw new IllegalArgumentException("concurrency and requests must be >= 1");
        EngineSnapshot before = engine.snapshot().toCompletableFuture().get(10, TimeUnit.SECONDS);
        AtomicInteger remaining = new AtomicInteger(requests);
        List<RequestTiming> timings = Collections.synchronizedList(new ArrayList<>());
        long t0 = System.nanoTime();
        List<CompletableFuture<Void>> clients = new ArrayList<>();
        for (int c = 0; c < concurrency; c++) clients.add(client(remaining, timings, settings));
        CompletableFuture.allOf(clients.toArray(CompletableFuture[]::new)).get(1, TimeUnit.HOURS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        EngineSnapshot after = engine.snapshot().toCompletableFuture().get(10, TimeUnit.SECONDS);

        long tokens = timings.stream().mapToLong(RequestTiming::tokens).sum();
        int errors = (int) timings.stream().filter(RequestTiming::failed).count();
        List<RequestTiming> ok = timings.stream().filter(t -> !t.failed() && t.tokens() > 0).toList();
        LatencyStats ttft = new LatencyStats(ok.stream().mapToDouble(t -> (t.firstToken() - t.submitted()) / 1e6).toArray());
        LatencyStats tpot = new LatencyStats(ok.stream().filter(t -> t.tokens() > 1)
                .mapToDouble(t -> (t.lastToken() - t.firstToken()) / 1e6 / (t.tokens() - 1)).toArray());
        double[] busy = new double[after.stages().size()];
        for (int k = 0; k < busy.length; k++) {
            long active = after.stages().get(k).activeNanosTotal() - before.stages().get(k).activeNanosTotal();
            busy[k] = active == 0 ? 0 : (double) (after.stages().get(k).busyNanosTotal() - before.stages().get(k).busyNanosTotal()) / active;
        }
        long steps = after.stepsTotal() - before.stepsTotal();
        return new LevelResult(concurrency, requests, errors, tokens, seconds, tokens / seconds, ttft.percentile(50), ttft.percentile(99),
                tpot.percentile(50), tpot.percentile(99), busy, steps == 0 ? 0 : (double) tokens / steps);
    }

    /** One client: runs requests back to back while any remain. */
    private CompletableFuture<Void> client(AtomicInteger remaining, List<RequestTiming> timings, Settings settings) {
        if (remaining.getAndDecrement() <= 0) return CompletableFuture.completedFuture(null);
        return once(settings).thenCompose(t -> {
            timings.add(t);
            return client(remaining, timings, settings);
        });
    }

    private CompletableFuture<RequestTiming> once(Settings settings) {
        int id = requestIds.incrementAndGet();
        GenerateRequest request = new GenerateRequest("bench-" + id, new Prompt.Tokens(prompt(id, settings.promptTokens())),
                new GenerateOptions(settings.maxTokens(), SamplingParams.GREEDY, true, List.of()));
        long submitted = System.nanoTime();
        long[] first = {0}, last = {0};
        int[] tokens = {0};
        return engine.submit(request)
                .runWith(Sink.foreach(e -> {
                    if (e instanceof TokenEvent.Delta d && d.tokenIds().length > 0) {
                        long now = System.nanoTime();
                        if (tokens[0] == 0) first[0] = now;
                        last[0] = now;
                        tokens[0] += d.tokenIds().length;
                    }
                }), system)
                .toCompletableFuture()
                .handle((done, error) -> new RequestTiming(submitted, first[0], last[0], tokens[0], error != null));
    }

    /** A window of the corpus, starting at a different place for every request so prompts differ. */
    private int[] prompt(int id, int length) {
        int[] p = new int[length];
        p[0] = corpus[0];   // BOS (when the corpus has one) stays first
        for (int i = 1; i < length; i++) p[i] = corpus[1 + (id * 7 + i) % (corpus.length - 1)];
        return p;
    }

    /** Aggregate tokens/s at this level over the single-stream level, as the benchmark reports it. */
    public static double speedup(LevelResult level, LevelResult single) {
        return level.tokensPerSecond() / single.tokensPerSecond();
    }

    static String stageBusyText(double[] busy) {
        return Arrays.toString(Arrays.stream(busy).map(b -> Math.round(b * 1000) / 1000.0).toArray());
    }
}
