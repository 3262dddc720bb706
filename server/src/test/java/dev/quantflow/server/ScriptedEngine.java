package dev.quantflow.server;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.SharedData;
import dev.quantflow.actors.tokenize.TokenizerWorker;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Source;

/**
 * A test double of the engine for the protocol layers: the real stories260K tokenizer, and a
 * scripted completion (the tokens of {@link #SCRIPT}, one per delta, every {@link #tokenDelay})
 * instead of a model. Records what it was asked and which requests were cancelled.
 */
public final class ScriptedEngine implements InferenceEngine {
    public static final String SCRIPT = " there was a little girl named Lily. She loved to play outside in the park.";
    public static final int CONTEXT = 512;

    public final Tokenizer tokenizer = Tokenizer.fromModelDir(SharedData.path("models/stories260K"));
    public final List<GenerateRequest> requests = new CopyOnWriteArrayList<>();
    public final List<String> cancelled = new CopyOnWriteArrayList<>();
    public final Map<String, SharedKillSwitch> active = new ConcurrentHashMap<>();
    public volatile Duration tokenDelay = Duration.ZERO;
    /** How long the engine takes to accept a request (tokenize and queue it). */
    public volatile Duration acceptDelay = Duration.ZERO;
    public volatile boolean overloaded;
    public volatile boolean degraded;
    public volatile boolean failMidStream;
    public final AtomicBoolean draining = new AtomicBoolean();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();

    @Override
    public Source<TokenEvent, NotUsed> submit(GenerateRequest request) {
        requests.add(request);
        if (draining.get()) return Source.failed(new EngineException(EngineException.Kind.UNAVAILABLE, "draining"));
        if (overloaded) return Source.failed(new EngineException(EngineException.Kind.OVERLOADED, "the waiting queue is full (1 requests)"));
        int[] prompt = switch (request.prompt()) {
            case Prompt.Text t -> tokenizer.encode(t.text());
            case Prompt.Tokens t -> t.ids();
            case Prompt.Chat c -> tokenizer.encode(c.messages().stream().map(m -> m.role() + ": " + m.content()).collect(Collectors.joining("\n")));
        };
        if (prompt.length >= CONTEXT)
            return Source.failed(new EngineException(EngineException.Kind.CONTEXT_LENGTH_EXCEEDED, "the prompt has " + prompt.length + " tokens; the context is " + CONTEXT));
        int[] script = tokenizer.encode(SCRIPT, false);
        int n = Math.min(request.options().maxTokens(), script.length);
        String finish = n == script.length ? "stop" : "length";
        IncrementalDetokenizer detok = tokenizer.newDetokenizer();
        SharedKillSwitch kill = KillSwitches.shared(request.requestId());
        active.put(request.requestId(), kill);
        AtomicBoolean finished = new AtomicBoolean();
        AtomicBoolean killed = new AtomicBoolean();
        Source<TokenEvent, NotUsed> deltas = Source.range(0, n - 1).map(i -> {
            if (failMidStream && i == 2) throw new EngineException(EngineException.Kind.INTERNAL, "stage 0 failed");
            int id = script[i];
            List<TokenEvent.TokenLogprob> lps = request.topLogprobs() < 0 ? List.of()
                    : List.of(new TokenEvent.TokenLogprob(id, tokenizer.decode(id), -0.5f,
                    request.topLogprobs() == 0 ? List.of() : List.of(new TokenEvent.TopLogprob(id, tokenizer.decode(id), -0.5f))));
            return (TokenEvent) new TokenEvent.Delta(detok.push(id), new int[] {id}, lps);
        });
        if (!tokenDelay.isZero()) deltas = deltas.throttle(1, tokenDelay);
        int promptTokens = prompt.length;
        // n > 1: choices 1..n-1 replay the script after choice 0 finished (the stream ends with the last choice's Finished)
        for (int choice = 1; choice < request.n(); choice++) {
            int c = choice;
            IncrementalDetokenizer d = tokenizer.newDetokenizer();
            deltas = deltas.concat(Source.single((TokenEvent) new TokenEvent.Finished(finish, promptTokens, n, c - 1)))
                    .concat(Source.range(0, n - 1).map(i -> (TokenEvent) new TokenEvent.Delta(d.push(script[i]), new int[] {script[i]}, List.of(), c)));
        }
        int last = request.n() - 1;
        killSwitches.put(request.requestId(), new Killer(kill, killed));
        Source<TokenEvent, NotUsed> accepted = Source.single(new TokenEvent.Accepted(request.requestId(), promptTokens));
        if (!acceptDelay.isZero()) accepted = accepted.initialDelay(acceptDelay);
        return accepted
                .concatLazy(deltas.via(kill.flow()))
                .concatLazy(Source.lazySingle(() -> {
                    finished.set(true);
                    return killed.get() ? new TokenEvent.Finished("cancelled", promptTokens, 0, last) : new TokenEvent.Finished(finish, promptTokens, n, last);
                }))
                .watchTermination((nu, done) -> {
                    done.whenComplete((d, err) -> {
                        active.remove(request.requestId());
                        if (!finished.get() || killed.get()) cancelled.add(request.requestId());
                    });
                    return nu;
                });
    }

    private record Killer(SharedKillSwitch kill, AtomicBoolean killed) {}

    private final Map<String, Killer> killSwitches = new ConcurrentHashMap<>();

    /** The pipeline's own chat encoding with the plain fallback template (stories260K has none). */
    @Override
    public int[] encodeChat(Prompt.Chat chat, boolean addSpecialTokens) {
        return TokenizerWorker.encodeChat(tokenizer, ChatTemplate.plain(), chat, addSpecialTokens);
    }

    @Override
    public CompletionStage<Boolean> cancel(String requestId) {
        Killer k = killSwitches.get(requestId);
        if (k == null || !active.containsKey(requestId)) return CompletableFuture.completedFuture(false);
        k.killed().set(true);
        k.kill().shutdown();
        return CompletableFuture.completedFuture(true);
    }

    @Override
    public CompletionStage<EngineSnapshot> snapshot() {
        return CompletableFuture.completedFuture(new EngineSnapshot(0, active.size(), active.size(), 64, 1, active.size(), 7, 0,
                List.of(new EngineSnapshot.StageStats(0, "cpu", 0, 5, 0.001, 0.5, 1024)), Map.of("layers.0.mlp.down_proj", 0.01)));
    }

    @Override
    public Health health() {
        return new Health(true, degraded, draining.get());
    }

    @Override
    public void startDrain() {
        draining.set(true);
    }

    @Override
    public CompletionStage<Void> idle() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            while (!active.isEmpty()) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
            f.complete(null);
        });
        return f;
    }

    @Override
    public String modelId() {
        return "stories260K";
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int contextLength() {
        return CONTEXT;
    }

    @Override
    public void close() {
        closed.complete(null);
    }

    public boolean isClosed() {
        return closed.isDone();
    }

    /** The text of the first n scripted tokens, as the detokenizer renders them. */
    public String scriptText(int n) {
        int[] script = tokenizer.encode(SCRIPT, false);
        return tokenizer.decode(Arrays.copyOf(script, Math.min(n, script.length)));
    }

    public GenerateRequest last() {
        return requests.getLast();
    }

    public QuantflowServer startServer(Map<String, Object> overrides) {
        return TestServers.start(this, overrides);
    }
}
