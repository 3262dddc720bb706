package dev.quantflow.actors.scheduler;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.EventStreams;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.actors.protocol.Activations;
import dev.quantflow.actors.protocol.SampleOutcome;
import dev.quantflow.actors.protocol.SamplerCommand;
import dev.quantflow.actors.protocol.SchedulerCommand.Cancel;
import dev.quantflow.actors.protocol.SchedulerCommand.Drain;
import dev.quantflow.actors.protocol.SchedulerCommand.GetSnapshot;
import dev.quantflow.actors.protocol.SchedulerCommand.Pipeline;
import dev.quantflow.actors.protocol.SchedulerCommand.Ports;
import dev.quantflow.actors.protocol.SchedulerCommand.Start;
import dev.quantflow.actors.protocol.SchedulerCommand.StreamClosed;
import dev.quantflow.actors.protocol.SchedulerCommand.Submit;
import dev.quantflow.actors.protocol.SchedulerCommand.WhenIdle;
import dev.quantflow.actors.protocol.SchedulerCommand;
import dev.quantflow.actors.protocol.StageCommand;
import dev.quantflow.actors.protocol.StageEvent.StageFailed;
import dev.quantflow.actors.protocol.StageEvent.StageLoadFailed;
import dev.quantflow.actors.protocol.StageEvent.StageLoaded;
import dev.quantflow.actors.protocol.StageEvent.StepDropped;
import dev.quantflow.actors.protocol.StageEvent;
import dev.quantflow.actors.protocol.StepSampled;
import dev.quantflow.actors.protocol.TokenizerCommand.EncodeRejected;
import dev.quantflow.actors.protocol.TokenizerCommand.Encoded;
import dev.quantflow.actors.protocol.TokenizerCommand;
import dev.quantflow.engine.kv.BlockHash;
import dev.quantflow.engine.llama.LayerRange;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.BoundedSourceQueue;

/**
 * The engine loop as vLLM v1 has it: schedule -> execute -> update. The only owner of sequence
 * state and of the KV block allocator. Admits requests (or refuses them at once when the
 * waiting queue is full), plans steps with the {@link ContinuousBatcher}, sends each to stage 0,
 * and on the sampler's answer appends tokens, frees the blocks of ended sequences and plans the
 * next step of that group. Cancellations take effect at the step boundary; a stage failure ends
 * the sequences of the failed step with an error and sends every other sequence back to
 * recompute, since the restarted stage lost its KV cache.
 */
public final class Scheduler extends AbstractBehavior<SchedulerCommand> {
    // what the message adapters wrap: the other actors' protocols, as they reach this actor
    private record FromStage(StageEvent event) implements SchedulerCommand, NoSerializationVerificationNeeded {}

    private record FromSampler(StepSampled sampled) implements SchedulerCommand, NoSerializationVerificationNeeded {}

    private record FromTokenizer(TokenizerCommand.EncodeResult result) implements SchedulerCommand, NoSerializationVerificationNeeded {}

    private static final int STARTUP_STASH = 100_000;

    /** A request being tokenized: not yet a sequence. */
    private static final class Pending {
        final GenerateRequest request;
        final BoundedSourceQueue<TokenEvent> events;
        boolean cancelled;

        Pending(GenerateRequest request, BoundedSourceQueue<TokenEvent> events) {
            this.request = request;
            this.events = events;
        }
    }

    private final SchedulerSettings settings;
    private final EngineStatus status;
    private final CompletableFuture<Void> loaded;
    private final Pipeline pipeline;
    private final ActorRef<TokenizerCommand.EncodeResult> encodedTo;
    private final int numStages;
    private final ContinuousBatcher batcher;
    private final Map<Long, Pending> tokenizing = new HashMap<>();
    private final Map<Long, Sequence> sequences = new HashMap<>();
    /**
     * The event streams of admitted sequences. The sampler owns them, but its Register message can
     * still be in flight (or in its mailbox) when the engine stops, and then only this copy can
     * fail the stream instead of leaving the client waiting forever.
     */
    private final Map<Long, BoundedSourceQueue<TokenEvent>> admittedStreams = new HashMap<>();
    private final Map<String, Long> byRequestId = new HashMap<>();   // -> the request's first sequence id
    private final Map<Long, int[]> siblings = new HashMap<>();        // first sequence id -> {its request's sequences, those still here}
    private final Set<Integer> unavailableStages = new HashSet<>();
    /** The stage refs: the guardian's local workers, or (cluster frontend) those the stage directory attached; null while a stage has none. */
    private final List<ActorRef<StageCommand>> stages;
    private final boolean[] stageLoaded;   // its current worker reported StageLoaded
    /** Stages whose worker was lost with its node, and why: requests are refused until a replacement has loaded. */
    private final Map<Integer, String> lostStages = new TreeMap<>();
    private final List<CompletableFuture<Void>> idleWaiters = new ArrayList<>();
    private boolean draining;
    private long epoch, nextStepId;
    private int nextGroup;
    // statistics for the snapshot
    private long stepsTotal, activeNanos, activeSince;
    private int lastBatchTokens, lastBatchSequences;
    private final long[] busyNanos, lastStageNanos, stageWeightBytes, stageKvBytes, stageInBytes, stageOutBytes;
    private final Map<Long, Long> launchedAt = new HashMap<>();   // step id -> System.nanoTime() at launch
    private long lastHopNanos;
    private final Map<Integer, Map<String, Double>> probes = new TreeMap<>();

    private Scheduler(ActorContext<SchedulerCommand> ctx, SchedulerSettings settings, EngineStatus status, CompletableFuture<Void> loaded, Pipeline pipeline,
                      ActorRef<TokenizerCommand.EncodeResult> encodedTo) {
        super(ctx);
        this.encodedTo = encodedTo;
        this.settings = settings;
        this.status = status;
        this.loaded = loaded;
        this.pipeline = pipeline;
        this.numStages = settings.stages().size();
        this.batcher = new ContinuousBatcher(numStages, settings.maxBatchTokens(), settings.maxSequences(), settings.kvBlocks(), settings.kvBlockSize(),
                settings.prefixCaching() ? BlockHash.root(settings.prefixCacheNamespace()) : null);
        for (int s = 0; s < numStages; s++) unavailableStages.add(s);
        this.stages = new ArrayList<>(Collections.nCopies(numStages, (ActorRef<StageCommand>) null));
        for (int s = 0; s < pipeline.stages().size(); s++) this.stages.set(s, pipeline.stages().get(s));
        this.stageLoaded = new boolean[numStages];
        busyNanos = new long[numStages];
        lastStageNanos = new long[numStages];
        stageWeightBytes = new long[numStages];
        stageKvBytes = new long[numStages];
        stageInBytes = new long[numStages];
        stageOutBytes = new long[numStages];
    }

    /** Tells portsTo the refs its message adapters listen on, then stashes until the guardian's Start. */
    public static Behavior<SchedulerCommand> create(SchedulerSettings settings, EngineStatus status, CompletableFuture<Void> loaded, ActorRef<Ports> portsTo) {
        return Behaviors.withStash(STARTUP_STASH, stash -> Behaviors.setup(ctx -> {
            Ports ports = new Ports(ctx.messageAdapter(StageEvent.class, FromStage::new), ctx.messageAdapter(StepSampled.class, FromSampler::new),
                    ctx.messageAdapter(TokenizerCommand.EncodeResult.class, FromTokenizer::new));
            portsTo.tell(ports);
            return Behaviors.receive(SchedulerCommand.class)
                    .onMessage(Start.class, s -> stash.unstashAll(new Scheduler(ctx, settings, status, loaded, s.pipeline(), ports.encoded())))
                    .onMessage(SchedulerCommand.Shutdown.class, s -> Behaviors.stopped())   // the engine never started: no stream exists yet
                    .onAnyMessage(m -> {
                        stash.stash(m);
                        return Behaviors.same();
                    })
                    .build();
        }));
    }

    @Override
    public Receive<SchedulerCommand> createReceive() {
        return newReceiveBuilder()
                .onMessage(Submit.class, this::onSubmit)
                .onMessage(FromTokenizer.class, t -> switch (t.result()) {
                    case Encoded e -> onEncoded(e);
                    case EncodeRejected e -> onEncodeRejected(e);
                })
                .onMessage(FromSampler.class, s -> onStepSampled(s.sampled()))
                .onMessage(FromStage.class, s -> onStageEvent(s.event()))
                .onMessage(StreamClosed.class, c -> cancel(c.sequence(), false))
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(GetSnapshot.class, g -> { g.replyTo().tell(snapshot()); return this; })
                .onMessage(Drain.class, d -> { draining = true; status.setDraining(true); return this; })
                .onMessage(WhenIdle.class, w -> { idleWaiters.add(w.idle()); checkIdle(); return this; })
                .onMessage(SchedulerCommand.StageAttached.class, this::onStageAttached)
                .onMessage(SchedulerCommand.StageLost.class, this::onStageLost)
                .onMessage(SchedulerCommand.Shutdown.class, s -> Behaviors.stopped())
                .onSignal(PostStop.class, stop -> onStop())
                .build();
    }

    // ---- admission --------------------------------------------------------------------------

    private Behavior<SchedulerCommand> onSubmit(Submit s) {
        GenerateRequest r = s.request();
        if (draining) {
            EventStreams.fail(s.events(), new EngineException(EngineException.Kind.UNAVAILABLE, "the engine is draining and takes no new requests"));
        } else if (!lostStages.isEmpty()) {
            EventStreams.fail(s.events(), lostError());
        } else if (tokenizing.size() + batcher.waiting() >= settings.maxWaiting()) {
            EventStreams.fail(s.events(), new EngineException(EngineException.Kind.OVERLOADED, "overloaded: " + (tokenizing.size() + batcher.waiting())
                    + " requests are waiting (limit " + settings.maxWaiting() + "); retry later"));
        } else if (byRequestId.containsKey(r.requestId())) {
            EventStreams.fail(s.events(), new EngineException(EngineException.Kind.INVALID_REQUEST, "request id '" + r.requestId() + "' is already in use"));
        } else {
            tokenizing.put(s.sequence(), new Pending(r, s.events()));
            byRequestId.put(r.requestId(), s.sequence());
            pipeline.tokenizers().tell(new TokenizerCommand.Encode(s.sequence(), r.prompt(), encodedTo));
        }
        return this;
    }

    private Behavior<SchedulerCommand> onEncoded(Encoded e) {
        Pending p = tokenizing.remove(e.sequence());
        if (p == null) return this;   // its stream closed while it was being tokenized
        int limit = settings.positionLimit();
        if (e.ids().length >= limit) {
            byRequestId.remove(p.request.requestId());
            EventStreams.fail(p.events, new EngineException(EngineException.Kind.CONTEXT_LENGTH_EXCEEDED, "the prompt has " + e.ids().length + " tokens; at most "
                    + (limit - 1) + " fit (context " + settings.contextLength() + ", KV cache " + (long) settings.kvBlocks() * settings.kvBlockSize() + " tokens)"));
            checkIdle();
            return this;
        }
        if (!lostStages.isEmpty()) {
            byRequestId.remove(p.request.requestId());
            EventStreams.fail(p.events, lostError());
            checkIdle();
            return this;
        }
        GenerateRequest r = p.request;
        int count = r.bestOf();
        pipeline.sampler().tell(new SamplerCommand.Register(e.sequence(), r.requestId(), p.events, r.options(), e.ids(), limit, r.topLogprobs(),
                r.n(), count, r.promptTopLogprobs()));
        if (p.cancelled || r.options().maxTokens() == 0) {
            byRequestId.remove(r.requestId());
            for (int i = 0; i < count; i++) pipeline.sampler().tell(new SamplerCommand.End(e.sequence() + i, p.cancelled ? "cancelled" : "length"));
            checkIdle();
            return this;
        }
        // n / best_of: separate sequences of the same prompt (each its own KV blocks, sampler and seed)
        siblings.put(e.sequence(), new int[] {count, count});
        for (int i = 0; i < count; i++) {
            Sequence seq = new Sequence(e.sequence() + i, e.sequence(), r.requestId(), e.ids());
            seq.promptLogprobs = r.promptLogprobs();
            sequences.put(seq.id, seq);
            admittedStreams.put(seq.id, p.events);
            batcher.enqueue(seq);
        }
        schedule();
        return this;
    }

    private Behavior<SchedulerCommand> onEncodeRejected(EncodeRejected e) {
        Pending p = tokenizing.remove(e.sequence());
        if (p != null) {
            byRequestId.remove(p.request.requestId());
            EventStreams.fail(p.events, e.error());
        }
        checkIdle();
        return this;
    }

    // ---- the step loop ----------------------------------------------------------------------

    /** Plans a step for every idle group that has work; groups take turns going first. */
    private void schedule() {
        if (!unavailableStages.isEmpty()) return;
        for (int i = 0; i < numStages; i++) {
            int g = (nextGroup + i) % numStages;
            if (!batcher.busy(g)) batcher.plan(g, ++nextStepId, epoch).ifPresent(this::launch);
        }
        nextGroup = (nextGroup + 1) % numStages;
    }

    private void launch(StepPlan plan) {
        if (batcher.inFlightSteps() == 1) activeSince = System.nanoTime();
        stepsTotal++;
        lastBatchTokens = plan.rows();
        lastBatchSequences = plan.items().size();
        launchedAt.put(plan.step().id(), System.nanoTime());
        long activation = (long) plan.rows() * settings.hiddenSize() * settings.activationBytes();
        for (int k = 0; k < numStages; k++) {
            if (k > 0) stageInBytes[k] += activation;
            stageOutBytes[k] += k < numStages - 1 ? activation : (long) plan.step().logitRows().length * settings.vocabSize() * Float.BYTES;
        }
        stages.get(0).tell(new StageCommand.Forward(plan.step(), Activations.NONE, new long[numStages]));
    }

    private Behavior<SchedulerCommand> onStepSampled(StepSampled s) {
        if (!batcher.hasStep(s.stepId())) return this;
        StepPlan plan = batcher.complete(s.stepId(), epoch);
        Long launched = launchedAt.remove(s.stepId());
        if (launched != null) {
            long compute = 0;
            for (long n : s.stageNanos()) compute += n;
            // numStages + 1 hops: frontend -> stage 0, between stages, last stage -> sampler
            lastHopNanos = Math.max(0, System.nanoTime() - launched - compute) / (numStages + 1);
        }
        stepEnded(s.stageNanos());
        for (SampleOutcome o : s.outcomes()) {
            Sequence seq = sequences.get(o.sequence());
            if (seq == null) continue;
            switch (o) {
                case SampleOutcome.Next n -> seq.append(n.token());
                case SampleOutcome.Ended ended -> end(seq);
            }
        }
        afterStep(plan);
        return this;
    }

    /** Cancellations that waited for the step, and the recompute of sequences whose step ran against a stage that has since lost its cache. */
    private void afterStep(StepPlan plan) {
        for (StepPlan.Scheduled it : plan.items()) {
            Sequence seq = it.sequence();
            if (seq.state == Sequence.State.ENDED) continue;
            if (seq.cancelRequested) {
                end(seq);
                pipeline.sampler().tell(new SamplerCommand.End(seq.id, "cancelled"));
            } else if (plan.step().epoch() < epoch && seq.state == Sequence.State.RUNNING) {
                batcher.preempt(seq);
            }
        }
        schedule();
        checkIdle();
    }

    private void end(Sequence seq) {
        batcher.release(seq);
        sequences.remove(seq.id);
        admittedStreams.remove(seq.id);
        int[] group = siblings.get(seq.first);
        if (group == null || --group[1] <= 0) {
            siblings.remove(seq.first);
            byRequestId.remove(seq.requestId);
        }
    }

    private void stepEnded(long[] stageNanos) {
        for (int k = 0; k < numStages; k++) {
            busyNanos[k] += stageNanos[k];
            lastStageNanos[k] = stageNanos[k];
        }
        if (batcher.inFlightSteps() == 0) activeNanos += System.nanoTime() - activeSince;
    }

    // ---- cancellation -----------------------------------------------------------------------

    private Behavior<SchedulerCommand> onCancel(Cancel c) {
        Long id = byRequestId.get(c.requestId());
        c.replyTo().tell(id != null);
        return id == null ? this : cancel(id, true);
    }

    /** Cancels a request (by its first sequence id) wherever it is, all its sequences; one in a step in flight leaves when that step returns. */
    private Behavior<SchedulerCommand> cancel(long id, boolean notify) {
        Pending p = tokenizing.get(id);
        if (p != null) {
            p.cancelled = true;
            return this;
        }
        int[] group = siblings.get(id);
        if (group == null) return this;
        boolean ended = false;
        for (long s = id; s < id + group[0]; s++) {
            Sequence seq = sequences.get(s);
            if (seq == null) continue;
            if (seq.inFlight) {
                seq.cancelRequested = true;
                continue;
            }
            end(seq);
            pipeline.sampler().tell(new SamplerCommand.End(seq.id, "cancelled"));
            ended = true;
        }
        if (ended) {
            schedule();
            checkIdle();
        }
        return this;
    }

    // ---- stage life cycle and failures ------------------------------------------------------

    private Behavior<SchedulerCommand> onStageEvent(StageEvent event) {
        return switch (event) {
            case StageLoaded l -> onStageLoaded(l);
            case StageLoadFailed f -> onStageLoadFailed(f);
            case StageFailed f -> onStageFailed(f);
            case StepDropped d -> onStepDropped(d);
            case StageEvent.StageProbes p -> {
                probes.put(p.stage(), new LinkedHashMap<>(p.values()));
                yield this;
            }
        };
    }

    private Behavior<SchedulerCommand> onStageLoaded(StageLoaded l) {
        stageWeightBytes[l.stage()] = l.weightBytes();
        stageKvBytes[l.stage()] = l.kvBytes();
        stageLoaded[l.stage()] = true;
        if (l.incarnation() > 1) getContext().getLog().info("stage {} reloaded (incarnation {})", l.stage(), l.incarnation());
        if (stages.get(l.stage()) == null) return this;   // a remote worker whose StageAttached is still on its way
        stageAvailable(l.stage());
        return this;
    }

    private Behavior<SchedulerCommand> onStageAttached(SchedulerCommand.StageAttached a) {
        stages.set(a.stage(), a.ref());
        getContext().getLog().info("stage {} attached: {}", a.stage(), a.ref().path());
        if (stageLoaded[a.stage()]) stageAvailable(a.stage());
        return this;
    }

    private void stageAvailable(int stage) {
        if (lostStages.remove(stage) != null) getContext().getLog().info("stage {} has a live worker again", stage);
        unavailableStages.remove(stage);
        if (unavailableStages.isEmpty()) {
            status.setDegraded(false);
            loaded.complete(null);
            schedule();
        }
    }

    /**
     * A stage's worker went with its node (cluster frontend): its KV cache is gone, and no node
     * may take the layers for a while. Every step in flight is abandoned and every admitted
     * sequence fails with UNAVAILABLE at once (never waits for a replacement whose arrival is
     * unbounded); the surviving stages drop the steps of the old epoch.
     */
    private Behavior<SchedulerCommand> onStageLost(SchedulerCommand.StageLost lost) {
        int k = lost.stage();
        getContext().getLog().warn("stage {} lost: {}", k, lost.reason());
        lostStages.put(k, lost.reason());
        stages.set(k, null);
        stageLoaded[k] = false;
        unavailableStages.add(k);
        status.setDegraded(true);
        epoch++;
        for (ActorRef<StageCommand> s : stages) if (s != null) s.tell(new StageCommand.Reset(epoch));
        batcher.abandonAll().forEach(plan -> stepEnded(new long[numStages]));
        launchedAt.clear();
        EngineException error = lostError();
        for (Sequence seq : List.copyOf(sequences.values())) {
            end(seq);
            pipeline.sampler().tell(new SamplerCommand.Fail(seq.id, error.kind(), error.getMessage()));
        }
        checkIdle();
        return this;
    }

    private EngineException lostError() {
        var first = lostStages.entrySet().iterator().next();
        LayerRange r = settings.stages().get(first.getKey());
        return new EngineException(EngineException.Kind.UNAVAILABLE, "no live worker for pipeline stage " + first.getKey() + " (layers " + r.first()
                + "-" + (r.last() - 1) + "): " + first.getValue() + "; retry once a stage node for these layers has joined");
    }

    private Behavior<SchedulerCommand> onStageLoadFailed(StageLoadFailed f) {
        LayerRange r = settings.stages().get(f.stage());
        loaded.completeExceptionally(new IllegalStateException("stage " + f.stage() + " (layers " + r.first() + "-" + (r.last() - 1)
                + " on " + r.device() + ") failed to load: " + f.message()));
        return this;
    }

    private Behavior<SchedulerCommand> onStageFailed(StageFailed f) {
        getContext().getLog().warn("stage {} failed in step {}: {}; restarting it", f.stage(), f.stepId(), f.message());
        epoch++;
        batcher.forgetPrefixCache();   // the restarted stage's KV is empty: no cached block holds what its hash says
        unavailableStages.add(f.stage());
        status.setDegraded(true);
        ActorRef<StageCommand> failed = stages.get(f.stage());
        if (failed != null) failed.tell(new StageCommand.Reset(epoch));
        if (batcher.hasStep(f.stepId())) {
            StepPlan plan = batcher.abandon(f.stepId());
            launchedAt.remove(f.stepId());
            stepEnded(new long[numStages]);
            EngineException error = new EngineException(EngineException.Kind.INTERNAL,
                    "stage " + f.stage() + " failed while computing this request: " + f.message());
            for (StepPlan.Scheduled it : plan.items()) {
                Sequence seq = it.sequence();
                end(seq);
                pipeline.sampler().tell(new SamplerCommand.Fail(seq.id, error.kind(), error.getMessage()));
            }
        }
        batcher.preemptAllIdle();
        checkIdle();
        return this;
    }

    private Behavior<SchedulerCommand> onStepDropped(StepDropped d) {
        if (!batcher.hasStep(d.stepId())) return this;
        StepPlan plan = batcher.abandon(d.stepId());
        launchedAt.remove(d.stepId());
        stepEnded(new long[numStages]);
        afterStep(plan);
        return this;
    }

    /** Shutting down: requests still being tokenized fail, and so do admitted ones (the sampler fails those it knows too). */
    private Behavior<SchedulerCommand> onStop() {
        EngineException closed = new EngineException(EngineException.Kind.UNAVAILABLE, "the engine shut down");
        tokenizing.values().forEach(p -> EventStreams.fail(p.events, closed));
        tokenizing.clear();
        admittedStreams.values().forEach(events -> EventStreams.fail(events, closed));   // a no-op where the sampler got there first
        admittedStreams.clear();
        idleWaiters.forEach(f -> f.completeExceptionally(closed));
        return this;
    }

    // ---- observation ------------------------------------------------------------------------

    private void checkIdle() {
        if (idleWaiters.isEmpty() || !tokenizing.isEmpty() || !sequences.isEmpty()) return;
        idleWaiters.forEach(f -> f.complete(null));
        idleWaiters.clear();
    }

    private EngineSnapshot snapshot() {
        long active = activeNanos + (batcher.inFlightSteps() > 0 ? System.nanoTime() - activeSince : 0);
        List<EngineSnapshot.StageStats> stages = new ArrayList<>();
        for (LayerRange r : settings.stages()) {
            int k = r.stage();
            stages.add(new EngineSnapshot.StageStats(k, r.device(), r.first(), r.last(), lastStageNanos[k] / 1e9,
                    active == 0 ? 0 : Math.min(1.0, (double) busyNanos[k] / active), stageWeightBytes[k] + stageKvBytes[k],
                    busyNanos[k], active, stageInBytes[k], stageOutBytes[k]));
        }
        return new EngineSnapshot(tokenizing.size() + batcher.waiting(), batcher.running(), batcher.blocksUsed(), batcher.blocksTotal(),
                lastBatchTokens, lastBatchSequences, stepsTotal, batcher.preemptions(), stages, outlierFractions(),
                batcher.prefixQueryTokens(), batcher.prefixHitTokens(), batcher.cachedBlocks(), lastHopNanos / 1e9);
    }

    private Map<String, Double> outlierFractions() {
        Map<String, Double> all = new LinkedHashMap<>();
        probes.values().forEach(all::putAll);
        return Collections.unmodifiableMap(all);
    }
}
