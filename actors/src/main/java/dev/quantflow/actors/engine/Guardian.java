package dev.quantflow.actors.engine;

import dev.quantflow.actors.cluster.StageDirectory;
import dev.quantflow.actors.protocol.SamplerCommand;
import dev.quantflow.actors.protocol.SchedulerCommand;
import dev.quantflow.actors.protocol.SchedulerCommand.Ports;
import dev.quantflow.actors.protocol.StageCommand;
import dev.quantflow.actors.protocol.StageDownstream;
import dev.quantflow.actors.protocol.StageSpec;
import dev.quantflow.actors.protocol.TokenizerCommand;
import dev.quantflow.actors.sampler.SamplerActor;
import dev.quantflow.actors.scheduler.EngineStatus;
import dev.quantflow.actors.scheduler.Scheduler;
import dev.quantflow.actors.scheduler.SchedulerSettings;
import dev.quantflow.actors.stage.StageHooks;
import dev.quantflow.actors.stage.StageWorker;
import dev.quantflow.actors.tokenize.TokenizerWorker;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Routers;

/**
 * The engine's composition root, spawned into the actor system it is given: starts the scheduler,
 * and once the scheduler names the refs of its message adapters, the sampler, one stage worker per
 * layer range (each on its own compute thread, restarted with back-off when it fails) and the
 * tokenizer pool, each told only the refs it reports to; then wires them into the scheduler. As a
 * cluster frontend it spawns the stage directory instead of the workers, which attaches the stage
 * nodes' workers to the scheduler as they join.
 * Stopping it stops exactly the engine's actors, which matters when the system is shared.
 */
final class Guardian {
    private static final DispatcherSelector COMPUTE = DispatcherSelector.fromConfig("quantflow.actors.compute-dispatcher");
    private static final DispatcherSelector SAMPLER = DispatcherSelector.fromConfig("quantflow.actors.sampler-dispatcher");
    private static final DispatcherSelector TOKENIZER = DispatcherSelector.fromConfig("quantflow.actors.tokenizer-dispatcher");

    sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Wire(Ports ports) implements Command {}

    /** Stops the engine's actors (children stop before the guardian's PostStop completes stopped). */
    enum Stop implements Command { INSTANCE }

    private Guardian() {}

    static Behavior<Command> create(EngineConfig config, StageHosting placement, LlamaConfig model, Tokenizer tokenizer, ChatTemplate chatTemplate,
                                    SchedulerSettings settings, EngineStatus status,
                                    StageHooks hooks, Progress progress, CompletableFuture<Void> loaded,
                                    CompletableFuture<ActorRef<SchedulerCommand>> schedulerRef, CompletableFuture<Void> stopped) {
        return Behaviors.setup(ctx -> {
            ActorRef<SchedulerCommand> scheduler = ctx.spawn(
                    Scheduler.create(settings, status, loaded, ctx.messageAdapter(Ports.class, Wire::new)), "scheduler");
            schedulerRef.complete(scheduler);
            ctx.watch(scheduler);
            boolean[] schedulerGone = {false};
            return Behaviors.receive(Command.class)
                    .onMessage(Wire.class, w -> {
                        wire(ctx, config, placement, model, tokenizer, chatTemplate, settings, hooks, progress, scheduler, w.ports());
                        return Behaviors.same();
                    })
                    .onMessageEquals(Stop.INSTANCE, () -> {
                        if (schedulerGone[0]) return Behaviors.stopped();
                        // the scheduler first, by a message: it fails every stream it holds, those of Submits already in its mailbox included
                        scheduler.tell(new SchedulerCommand.Shutdown());
                        return stopping(stopped);
                    })
                    .onSignal(Terminated.class, t -> {
                        schedulerGone[0] = true;
                        return Behaviors.same();
                    })
                    .onSignal(PostStop.class, s -> completed(stopped))
                    .build();
        });
    }

    /** Waits for the scheduler to stop, then stops the rest. */
    private static Behavior<Command> stopping(CompletableFuture<Void> stopped) {
        return Behaviors.receive(Command.class)
                .onSignal(Terminated.class, t -> Behaviors.stopped())
                .onSignal(PostStop.class, s -> completed(stopped))
                .build();
    }

    private static Behavior<Command> completed(CompletableFuture<Void> stopped) {
        stopped.complete(null);
        return Behaviors.same();
    }

    private static void wire(ActorContext<Command> ctx, EngineConfig config, StageHosting placement, LlamaConfig model, Tokenizer tokenizer, ChatTemplate chatTemplate,
                             SchedulerSettings settings, StageHooks hooks, Progress progress, ActorRef<SchedulerCommand> scheduler, Ports ports) {
        ActorRef<SamplerCommand> sampler = ctx.spawn(
                Behaviors.supervise(SamplerActor.create(ports.sampled(), tokenizer, model.vocabSize())).onFailure(SupervisorStrategy.resume()),
                "sampler", SAMPLER);
        List<ActorRef<StageCommand>> stages = new ArrayList<>();
        StageDownstream next = new StageDownstream.ToSampler(sampler);
        int n = settings.stages().size();
        List<StageSpec> specs = new ArrayList<>();
        for (LayerRange r : settings.stages())
            specs.add(new StageSpec(r, n, config.modelDir().toString(), settings.kvBlocks(), settings.kvBlockSize(),
                    config.maxBatchTokens(), config.stageThreads(), config.quant(), config.kvFormat(), config.wireActivations()));
        // cluster frontend: the stage nodes host the layers, the directory attaches them as they join
        if (placement == StageHosting.CLUSTER) ctx.spawn(StageDirectory.create(specs, sampler, ports.stageEvents(), scheduler), "stage-directory");
        else for (int k = n - 1; k >= 0; k--) {
            StageSpec spec = specs.get(k);
            ActorRef<StageCommand> stage = ctx.spawn(
                    StageWorker.supervised(spec, hooks, n > 1 ? progress.prefixed("stage " + k) : progress, next, ports.stageEvents()),
                    "stage-" + k, COMPUTE);
            stages.add(stage);
            next = new StageDownstream.NextStage(stage);
        }
        Collections.reverse(stages);
        ActorRef<TokenizerCommand.Encode> tokenizers = ctx.spawn(
                Routers.pool(config.tokenizerWorkers(),
                                Behaviors.supervise(TokenizerWorker.create(tokenizer, chatTemplate, model.vocabSize()))
                                        .onFailure(SupervisorStrategy.restart()))
                        .withRouteeProps(TOKENIZER),
                "tokenizers");
        scheduler.tell(new SchedulerCommand.Start(new SchedulerCommand.Pipeline(tokenizers, stages, sampler)));
    }
}
