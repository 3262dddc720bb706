package dev.quantflow.actors.engine;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.EventStreams;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.actors.protocol.SchedulerCommand;
import dev.quantflow.actors.scheduler.EngineStatus;
import dev.quantflow.actors.scheduler.SchedulerSettings;
import dev.quantflow.actors.stage.StageHooks;
import dev.quantflow.actors.tokenize.TokenizerWorker;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The actor pipeline behind {@link InferenceEngine}: {@link #start} loads the model's config and
 * tokenizer, spawns the actors into the actor system it is given (the server's, so its --config
 * reaches them) or into one of its own, waits until every stage has loaded its shard, then runs a
 * one-token warm-up after which {@link #health()} reports ready.
 */
public final class PipelineEngine implements InferenceEngine {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineEngine.class);
    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

    private static final AtomicLong ENGINES = new AtomicLong();

    private final EngineConfig config;
    private final LlamaConfig model;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final SchedulerSettings settings;
    private final ActorSystem<?> system;
    private final boolean ownsSystem;
    private final ActorRef<Guardian.Command> guardian;
    private final CompletableFuture<Void> stopped;
    private final ActorRef<SchedulerCommand> scheduler;
    private final EngineStatus status;
    private final AtomicLong sequenceIds = new AtomicLong();
    private volatile boolean closed;

    private PipelineEngine(EngineConfig config, LlamaConfig model, Tokenizer tokenizer, ChatTemplate chatTemplate, SchedulerSettings settings, ActorSystem<?> system,
                           boolean ownsSystem, ActorRef<Guardian.Command> guardian, CompletableFuture<Void> stopped,
                           ActorRef<SchedulerCommand> scheduler, EngineStatus status) {
        this.config = config;
        this.model = model;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.settings = settings;
        this.system = system;
        this.ownsSystem = ownsSystem;
        this.guardian = guardian;
        this.stopped = stopped;
        this.scheduler = scheduler;
        this.status = status;
    }

    /** Starts the engine in an actor system of its own, terminated on close; throws (with a one-line message) when the model or the configuration is unusable. */
    public static PipelineEngine start(EngineConfig config) {
        return start(config, ConfigFactory.empty(), StageHooks.DEFAULT, Progress.NONE);
    }

    /** {@link #start}, reporting each stage's loading to progress (from the stages' threads). */
    public static PipelineEngine start(EngineConfig config, Progress progress) {
        return start(config, ConfigFactory.empty(), StageHooks.DEFAULT, progress);
    }

    /** The same, with the actor system's settings overridden (tests: Pekko's manual clock, ManualTime.config()). */
    public static PipelineEngine start(EngineConfig config, Config actorSystemSettings) {
        return start(config, actorSystemSettings, StageHooks.DEFAULT, Progress.NONE);
    }

    /** The same, with the stages built with hooks (tests: faults, probes, linears). */
    public static PipelineEngine start(EngineConfig config, StageHooks hooks) {
        return start(config, ConfigFactory.empty(), hooks, Progress.NONE);
    }

    public static PipelineEngine start(EngineConfig config, Config actorSystemSettings, StageHooks hooks) {
        return start(config, actorSystemSettings, hooks, Progress.NONE);
    }

    private static PipelineEngine start(EngineConfig config, Config actorSystemSettings, StageHooks hooks, Progress progress) {
        Prepared prepared = prepare(config);   // a bad model or budget fails before any system exists
        ActorSystem<Void> own = ActorSystem.create(Behaviors.empty(), "quantflow-engine", actorSystemSettings.withFallback(ConfigFactory.load()));
        try {
            return start(config, prepared, own, true, StageHosting.LOCAL, hooks, progress);
        } catch (RuntimeException e) {
            own.terminate();
            throw e;
        }
    }

    /** Spawns the engine's actors into system (the server's); close stops them and leaves the system running. */
    public static PipelineEngine start(EngineConfig config, ActorSystem<?> system, Progress progress) {
        return start(config, prepare(config), system, false, StageHosting.LOCAL, StageHooks.DEFAULT, progress);
    }

    public static PipelineEngine start(EngineConfig config, ActorSystem<?> system, StageHooks hooks, Progress progress) {
        return start(config, prepare(config), system, false, StageHosting.LOCAL, hooks, progress);
    }

    /**
     * A cluster frontend in system (whose provider is cluster): the scheduler, sampler and
     * tokenizers here, each layer range of the plan on a stage node registered for it; returns once
     * every range has a loaded worker (so it blocks until the stage nodes have joined).
     */
    public static PipelineEngine startFrontend(EngineConfig config, ActorSystem<?> system, Progress progress) {
        return start(config, prepare(config), system, false, StageHosting.CLUSTER, StageHooks.DEFAULT, progress);
    }

    /** What the engine reads before it starts any actor: the model's config, its tokenizer and the scheduler's budgets. */
    private record Prepared(LlamaConfig model, Tokenizer tokenizer, ChatTemplate chatTemplate, SchedulerSettings settings) {}

    private static Prepared prepare(EngineConfig config) {
        LlamaConfig model = LlamaConfig.load(config.modelDir());
        Tokenizer tokenizer = Tokenizer.fromModelDir(config.modelDir());
        List<LayerRange> plan = config.stagePlan(model);
        int kvBlocks = config.kvBlocks() > 0 ? config.kvBlocks() : automaticKvBlocks(config, model);
        SchedulerSettings settings = new SchedulerSettings(plan, config.maxBatchTokens(), config.maxSequences(), Math.max(1, config.maxWaiting()),
                kvBlocks, config.kvBlockSize(), model.maxPositions(), config.prefixCaching(), prefixCacheNamespace(config), model.hiddenSize(),
                config.wireActivations().bytesPerValue, model.vocabSize());
        return new Prepared(model, tokenizer, ChatTemplate.fromModelDir(config.modelDir()), settings);
    }

    private static PipelineEngine start(EngineConfig config, Prepared prepared, ActorSystem<?> system, boolean ownsSystem, StageHosting placement,
                                        StageHooks hooks, Progress progress) {
        LlamaConfig model = prepared.model();
        Tokenizer tokenizer = prepared.tokenizer();
        SchedulerSettings settings = prepared.settings();
        EngineStatus status = new EngineStatus();
        CompletableFuture<Void> loaded = new CompletableFuture<>();
        CompletableFuture<ActorRef<SchedulerCommand>> schedulerRef = new CompletableFuture<>();
        CompletableFuture<Void> stopped = new CompletableFuture<>();
        ActorRef<Guardian.Command> guardian = system.systemActorOf(
                Guardian.create(config, placement, model, tokenizer, prepared.chatTemplate(), settings, status, hooks, progress, loaded, schedulerRef, stopped),
                "quantflow-engine-" + ENGINES.incrementAndGet(), Props.empty());
        PipelineEngine engine;
        try {
            loaded.get();
            engine = new PipelineEngine(config, model, tokenizer, prepared.chatTemplate(), settings, system, ownsSystem, guardian, stopped, schedulerRef.get(), status);
        } catch (ExecutionException e) {
            stop(guardian, stopped);
            throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            stop(guardian, stopped);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the stages were loading");
        }
        if (config.warmup()) engine.warmUp();
        else status.setReady(true);
        return engine;
    }

    /** Stops the engine's actors and waits for them (their PostStop fails open streams). */
    private static void stop(ActorRef<Guardian.Command> guardian, CompletableFuture<Void> stopped) {
        guardian.tell(Guardian.Stop.INSTANCE);
        try {
            stopped.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("the engine's actors did not stop cleanly: {}", e.toString());
        }
    }

    /** Everything besides the tokens that decides a KV block's values: the root of the prefix cache's hash chain. */
    static String prefixCacheNamespace(EngineConfig config) {
        return "model=" + config.modelDir().toAbsolutePath().normalize() + ";quant=" + config.quant() + ";kv=" + config.kvFormat()
                + ";block=" + config.kvBlockSize() + ";wire=" + config.wireActivations();   // bf16 hops change the later stages' KV
    }

    /** Blocks for as many sequences as may run at once at full context, within the memory budget (fp32 KV estimate). */
    static int automaticKvBlocks(EngineConfig config, LlamaConfig model) {
        long bytesPerBlock = 2L * model.numLayers() * config.kvBlockSize() * model.kvDim() * Float.BYTES;
        long perSequence = (model.maxPositions() + config.kvBlockSize() - 1) / config.kvBlockSize();
        long blocks = Math.min((long) config.maxSequences() * perSequence, config.kvMemoryBytes() / bytesPerBlock);
        if (blocks < 2) throw new IllegalArgumentException("the KV memory budget of " + config.kvMemoryBytes() + " bytes holds fewer than 2 blocks of "
                + bytesPerBlock + " bytes");
        return (int) Math.min(blocks, Integer.MAX_VALUE);
    }

    private void warmUp() {
        int bos = tokenizer.bosTokenId().orElse(0);
        submit(new GenerateRequest("warmup-" + System.nanoTime(), new Prompt.Tokens(new int[] {bos}), GenerateOptions.greedy(1)))
                .runWith(Sink.ignore(), system)
                .whenComplete((done, error) -> {
                    if (error == null) status.setReady(true);
                    else if (!closed) LOG.error("warm-up generation failed; the engine stays not ready: {}", error.toString());
                });
    }

    /**
     * Each materialization submits the request once. The buffer holds every event the request can
     * produce (Accepted, one Delta per token, a tail, Finished), so a slow client never loses one.
     */
    @Override
    public Source<TokenEvent, NotUsed> submit(GenerateRequest request) {
        int capacity = request.bestOf() * (Math.min(request.options().maxTokens(), settings.positionLimit()) + 4) + 1;
        return Source.<TokenEvent>queue(capacity).watchTermination((events, done) -> {
            long id = sequenceIds.getAndAdd(request.bestOf()) + 1;   // the request's sequences are id .. id + bestOf - 1
            scheduler.tell(new SchedulerCommand.Submit(id, request, events));
            // read after the tell: when still open here, the Submit is queued before the scheduler's Shutdown, which fails it
            if (closed) EventStreams.fail(events, new EngineException(EngineException.Kind.UNAVAILABLE, "the engine shut down"));
            done.whenComplete((d, e) -> scheduler.tell(new SchedulerCommand.StreamClosed(id)));
            return NotUsed.notUsed();
        });
    }

    @Override
    public CompletionStage<Boolean> cancel(String requestId) {
        return AskPattern.ask(scheduler, (ActorRef<Boolean> replyTo) -> new SchedulerCommand.Cancel(requestId, replyTo), ASK_TIMEOUT, system.scheduler());
    }

    @Override
    public CompletionStage<EngineSnapshot> snapshot() {
        return AskPattern.ask(scheduler, SchedulerCommand.GetSnapshot::new, ASK_TIMEOUT, system.scheduler());
    }

    @Override
    public int[] encodeChat(Prompt.Chat chat, boolean addSpecialTokens) {
        return TokenizerWorker.encodeChat(tokenizer, chatTemplate, chat, addSpecialTokens);
    }

    @Override
    public Health health() {
        return new Health(status.ready(), status.degraded(), status.draining());
    }

    @Override
    public void startDrain() {
        status.setDraining(true);
        scheduler.tell(new SchedulerCommand.Drain());
    }

    @Override
    public CompletionStage<Void> idle() {
        CompletableFuture<Void> idle = new CompletableFuture<>();
        scheduler.tell(new SchedulerCommand.WhenIdle(idle));
        return idle;
    }

    @Override
    public String modelId() {
        return config.servedModelName().isEmpty() ? config.modelDir().toAbsolutePath().normalize().getFileName().toString() : config.servedModelName();
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int contextLength() {
        return model.maxPositions();
    }

    public EngineConfig config() {
        return config;
    }

    /** The actor system the engine runs in (tests advance its manual clock through it). */
    public ActorSystem<?> actorSystem() {
        return system;
    }

    /** The stage split in use, the KV blocks and the position limit a sequence can reach. */
    public SchedulerSettings settings() {
        return settings;
    }

    @Override
    public void close() {
        closed = true;
        stop(guardian, stopped);
        if (!ownsSystem) return;
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("the engine's actor system did not stop cleanly: {}", e.toString());
        }
    }
}
