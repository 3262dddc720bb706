package dev.quantflow.actors.stage;

import dev.quantflow.actors.protocol.Activations;
import dev.quantflow.actors.protocol.SamplerCommand;
import dev.quantflow.actors.protocol.StageCommand;
import dev.quantflow.actors.protocol.StageCommand.Forward;
import dev.quantflow.actors.protocol.StageCommand.Reset;
import dev.quantflow.actors.protocol.StageDownstream;
import dev.quantflow.actors.protocol.StageEvent;
import dev.quantflow.actors.protocol.StageSpec;
import dev.quantflow.actors.protocol.Step;
import dev.quantflow.engine.backend.ComputeBackend;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.llama.CpuStage;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedModels;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Owns the layers [first, last) of the model on one device and the KV cache of those layers.
 * Runs every step it receives through its layers (stage 0 embeds first, the last stage ends with
 * logits for the sampler) on its own dispatcher thread, and passes the activations on. On the CPU
 * that is a LlamaStage with a KvCache; on a card (cuda:N) the backend's own stage, which keeps
 * weights, KV cache and the hidden state on the card between entering and leaving the stage.
 *
 * <p>Failure: a step that throws is reported to the events ref (the scheduler, whose sequences
 * then end with an error) and rethrown, so supervision restarts the worker, which reloads its
 * shard with an empty KV cache. Until the scheduler answers with {@link Reset} the new
 * incarnation stashes steps; steps planned before the reset (older epoch) assumed the lost cache
 * and are dropped.
 *
 * <p>The worker is described by data (its {@link StageSpec}) and talks only through the refs it is
 * given, so it could run on another machine; hooks and progress are local construction parameters.
 */
public final class StageWorker {
    /** The worker's own timer, quantflow.actors.probe-report-interval after a report: report again if steps ran. */
    private enum ReportProbes implements StageCommand, NoSerializationVerificationNeeded { INSTANCE }

    private static final int STASH_CAPACITY = 1024;

    private final StageSpec spec;
    private final StageHooks hooks;
    private final AtomicReference<StageDownstream> next;   // replaced by Rewire when the next stage moves to another node; survives restarts
    private final ActorRef<StageEvent> events;
    private final WeightStore weights;
    private final StageCompute layers;
    private final Map<String, Linear> probed;   // the linears the probe reports on, by layer name (CPU stages)
    private long minEpoch;
    private boolean stepsSinceReport;
    private TimerScheduler<StageCommand> timers;
    private Duration probeInterval;

    private StageWorker(StageSpec spec, StageHooks hooks, AtomicReference<StageDownstream> next, ActorRef<StageEvent> events, WeightStore weights, StageCompute layers,
                        Map<String, Linear> probed) {
        this.spec = spec;
        this.hooks = hooks;
        this.next = next;
        this.events = events;
        this.weights = weights;
        this.layers = layers;
        this.probed = probed;
    }

    /** The worker as the engine runs it: restarted with back-off when a step fails (it reloads its shard). */
    public static Behavior<StageCommand> supervised(StageSpec spec, StageHooks hooks, Progress progress, StageDownstream next, ActorRef<StageEvent> events) {
        return Behaviors.supervise(create(spec, hooks, progress, next, events))
                .onFailure(Exception.class, SupervisorStrategy.restartWithBackoff(Duration.ofMillis(50), Duration.ofSeconds(10), 0.2));
    }

    /** The counter lives outside setup, so it survives restarts: incarnation 1 is the first load, later ones are reloads. */
    public static Behavior<StageCommand> create(StageSpec spec, StageHooks hooks, Progress progress, StageDownstream next, ActorRef<StageEvent> events) {
        AtomicInteger incarnations = new AtomicInteger();
        AtomicReference<StageDownstream> downstream = new AtomicReference<>(next);
        return Behaviors.setup(ctx -> {
            int incarnation = incarnations.incrementAndGet();
            StageWorker w;
            try {
                w = Progress.during(progress, () -> load(spec, hooks, downstream, events));   // on the compute dispatcher: may block
            } catch (RuntimeException e) {
                if (incarnation > 1) throw e;   // a reload failed: supervision retries with back-off, the engine stays degraded
                events.tell(new StageEvent.StageLoadFailed(spec.range().stage(), describe(e)));
                return Behaviors.stopped();
            }
            events.tell(new StageEvent.StageLoaded(spec.range().stage(), incarnation, w.layers.weightBytes(), w.layers.kvCacheBytes()));
            return Behaviors.withTimers(timers -> {
                // a Pekko timer, not the wall clock, so that a test drives it with a manual clock
                w.timers = timers;
                w.probeInterval = ctx.getSystem().settings().config().getDuration("quantflow.actors.probe-report-interval");
                if (incarnation == 1) return w.running();
                return Behaviors.withStash(STASH_CAPACITY, stash -> w.awaitingReset(stash));
            });
        });
    }

    private static StageWorker load(StageSpec spec, StageHooks hooks, AtomicReference<StageDownstream> next, ActorRef<StageEvent> events) {
        Path dir = Path.of(spec.modelDir());
        LlamaConfig c = LlamaConfig.load(dir);
        String device = spec.range().device();
        WeightStore weights = WeightStore.open(dir);
        try {
            ComputeBackend backend = ComputeBackend.forDevice(device);
            backend.unavailableReason().ifPresent(reason -> {
                throw new IllegalStateException(device + " is not available: " + reason);
            });
            StageLayout layout = new StageLayout(spec.range().first(), spec.range().last(), spec.kvFormat(), spec.kvBlocks(),
                    spec.kvBlockSize(), spec.maxBatchRows());
            // the engine's linears, chosen from the scheme's name; a device stage uploads their packed formats
            LinearFactory engine = hooks.linears() != null ? hooks.linears().over(c, weights) : QuantizedModels.atLoad(c, weights, spec.quant());
            var onDevice = backend.stage(device, QuantPlan.parse(spec.quant(), List.of()), engine, c, weights, layout);
            if (onDevice.isPresent()) return new StageWorker(spec, hooks, next, events, weights, onDevice.get(), Map.of());
            Map<String, Linear> probed = new LinkedHashMap<>();
            LinearFactory factory = engine.observed((name, l) -> {
                if (hooks.probe().outlierFraction(l).isPresent()) probed.put(name, l);
            });
            LlamaStage layers = new LlamaStage(c, weights, layout.first(), layout.last(), factory);
            KvCache cache = spec.kvFormat().create(layout.layers(), spec.kvBlocks(), spec.kvBlockSize(), c.numHeads(), c.numKvHeads(), c.headDim());
            return new StageWorker(spec, hooks, next, events, weights, new CpuStage(layers, cache), probed);
        } catch (RuntimeException | Error e) {
            weights.close();
            throw e;
        }
    }

    /** Frees the stage's device memory (if any) and unmaps the weights: on stop and before a restart reloads them. */
    private Behavior<StageCommand> release() {
        try {
            layers.close();
        } finally {
            weights.close();
        }
        return Behaviors.same();
    }

    private Behavior<StageCommand> running() {
        return Behaviors.receive(StageCommand.class)
                .onMessage(Forward.class, this::onForward)
                .onMessage(Reset.class, r -> { minEpoch = Math.max(minEpoch, r.epoch()); return Behaviors.same(); })
                .onMessage(StageCommand.Rewire.class, this::onRewire)
                .onMessage(StageCommand.Quiesce.class, this::onQuiesce)
                .onMessageEquals(ReportProbes.INSTANCE, this::reportProbes)
                .onSignal(PreRestart.class, s -> release())
                .onSignal(PostStop.class, s -> release())
                .build();
    }

    private Behavior<StageCommand> awaitingReset(StashBuffer<StageCommand> stash) {
        return Behaviors.receive(StageCommand.class)
                .onMessage(Reset.class, r -> {
                    minEpoch = r.epoch();
                    return stash.unstashAll(running());
                })
                .onMessage(Forward.class, f -> { stash.stash(f); return Behaviors.same(); })
                .onMessage(StageCommand.Rewire.class, this::onRewire)
                .onMessage(StageCommand.Quiesce.class, this::onQuiesce)
                .onMessageEquals(ReportProbes.INSTANCE, Behaviors::same)
                .onSignal(PreRestart.class, s -> release())
                .onSignal(PostStop.class, s -> release())
                .build();
    }

    private Behavior<StageCommand> onRewire(StageCommand.Rewire r) {
        next.set(r.next());
        return Behaviors.same();
    }

    /** Every step queued before the Quiesce has run (the mailbox is in order). */
    private Behavior<StageCommand> onQuiesce(StageCommand.Quiesce q) {
        q.replyTo().tell(new StageCommand.Quiesced(spec.range().stage()));
        return Behaviors.same();
    }

    private Behavior<StageCommand> onForward(Forward f) {
        Step step = f.step();
        int stage = spec.range().stage();
        if (step.epoch() < minEpoch) {
            events.tell(new StageEvent.StepDropped(stage, step.id()));
            return Behaviors.same();
        }
        long hopNanos = Math.max(0, Forward.nowMicros() - f.sentAtMicros()) * 1_000;
        long t0 = System.nanoTime();
        float[][] out = {null};   // the hidden state for the next stage, or the last stage's logits
        try {
            hooks.faults().beforeCompute(stage, step.id(), step.rows().rows());
            Runnable compute = () -> out[0] = layers.forward(f.hidden().toFloats(), step.rows(), step.logitRows());
            if (spec.threads() > 0) Parallel.withThreads(spec.threads(), compute);
            else compute.run();
        } catch (RuntimeException | Error e) {
            events.tell(new StageEvent.StageFailed(stage, step.id(), describe(e)));
            if (e instanceof VirtualMachineError vm) throw vm;
            throw e instanceof RuntimeException re ? re : new StageComputeException(describe(e), e);
        }
        long[] nanos = f.stageNanos().clone();
        nanos[stage] = System.nanoTime() - t0;
        long sent = switch (next.get()) {
            case StageDownstream.NextStage n -> {
                Activations a = Activations.of(out[0], spec.wire());
                n.ref().tell(new Forward(step, a, nanos));
                yield (long) a.length() * a.format().bytesPerValue;
            }
            case StageDownstream.ToSampler s -> {
                s.ref().tell(new SamplerCommand.SampleStep(step, out[0], nanos));
                yield (long) out[0].length * Float.BYTES;
            }
        };
        hooks.steps().stepRan(stage, nanos[stage], hopNanos, (long) f.hidden().length() * f.hidden().format().bytesPerValue, sent);
        stepsSinceReport = true;
        if (!probed.isEmpty() && !timers.isTimerActive(ReportProbes.INSTANCE)) reportProbes();
        return Behaviors.same();
    }

    /**
     * At most once per interval, the probed statistics of this stage's linears for the snapshot: at
     * once on the first step after a quiet interval, then on the timer while steps run.
     */
    private Behavior<StageCommand> reportProbes() {
        if (!stepsSinceReport) return Behaviors.same();
        stepsSinceReport = false;
        timers.startSingleTimer(ReportProbes.INSTANCE, probeInterval);
        Map<String, Double> values = new LinkedHashMap<>();
        probed.forEach((name, l) -> hooks.probe().outlierFraction(l).ifPresent(v -> values.put(name, v)));
        events.tell(new StageEvent.StageProbes(spec.range().stage(), values));
        return Behaviors.same();
    }

    static String describe(Throwable e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m.lines().findFirst().orElse(""));
    }

    /** A non-exception Throwable (e.g. an AssertionError) from compute, wrapped so supervision restarts the worker. */
    public static final class StageComputeException extends RuntimeException {
        StageComputeException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
