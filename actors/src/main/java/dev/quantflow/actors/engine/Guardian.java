package dev.quantflow.actors.engine;

import dev.quantflow.actors.sampler.SamplerActor;
import dev.quantflow.actors.scheduler.Scheduler;
import dev.quantflow.actors.scheduler.SchedulerSettings;
import dev.quantflow.actors.stage.StageSpec;
import dev.quantflow.actors.stage.StageWorker;
import dev.quantflow.actors.tokenize.TokenizerWorker;
import dev.quantflow.engine.chat.ChatTemplate;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.progress.Progress;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Routers;

/**
 * Starts the pipeline: the scheduler, the sampler, one stage worker per layer range (each on its
 * own compute thread, restarted with back-off when it fails) and the tokenizer pool, then wires
 * them into the scheduler.
 */
final class Guardian {
    private static final DispatcherSelector COMPUTE = DispatcherSelector.fromConfig("quantflow.actors.compute-dispatcher");
    private static final DispatcherSelector SAMPLER = DispatcherSelector.fromConfig("quantflow.actors.sampler-dispatcher");
    private static final DispatcherSelector TOKENIZER = DispatcherSelector.fromConfig("quantflow.actors.tokenizer-dispatcher");

    private Guardian() {}

    static Behavior<Void> create(EngineConfig config, LlamaConfig model, Tokenizer tokenizer, SchedulerSettings settings, EngineStatus status,
                                 Progress progress, CompletableFuture<Void> loaded, CompletableFuture<ActorRef<Scheduler.Command>> schedulerRef) {
        return Behaviors.setup(ctx -> {
            ActorRef<Scheduler.Command> scheduler = ctx.spawn(Scheduler.create(settings, status, loaded), "scheduler");
            ActorRef<SamplerActor.Command> sampler = ctx.spawn(
                    Behaviors.supervise(SamplerActor.create(scheduler, tokenizer, model.vocabSize())).onFailure(SupervisorStrategy.resume()),
                    "sampler", SAMPLER);
            List<ActorRef<StageWorker.Command>> stages = new ArrayList<>();
            StageWorker.Downstream next = new StageWorker.ToSampler(sampler);
            for (int k = settings.stages().size() - 1; k >= 0; k--) {
                StageSpec spec = new StageSpec(settings.stages().get(k), settings.stages().size(), config.modelDir(), model,
                        settings.kvBlocks(), settings.kvBlockSize(), config.maxBatchTokens(), config.stageThreads(), config.linears(), config.quant(),
                        config.kvCaches(), config.linearProbe(), config.faults(), settings.stages().size() > 1 ? progress.prefixed("stage " + k) : progress);
                ActorRef<StageWorker.Command> stage = ctx.spawn(
                        Behaviors.supervise(StageWorker.create(spec, next, scheduler))
                                .onFailure(Exception.class, SupervisorStrategy.restartWithBackoff(Duration.ofMillis(50), Duration.ofSeconds(10), 0.2)),
                        "stage-" + k, COMPUTE);
                stages.add(stage);
                next = new StageWorker.NextStage(stage);
            }
            Collections.reverse(stages);
            ActorRef<TokenizerWorker.Encode> tokenizers = ctx.spawn(
                    Routers.pool(config.tokenizerWorkers(),
                                    Behaviors.supervise(TokenizerWorker.create(tokenizer, ChatTemplate.fromModelDir(config.modelDir()), model.vocabSize())).onFailure(SupervisorStrategy.restart()))
                            .withRouteeProps(TOKENIZER),
                    "tokenizers");
            scheduler.tell(new Scheduler.Start(new Scheduler.Pipeline(tokenizers, stages, sampler)));
            schedulerRef.complete(scheduler);
            return Behaviors.empty();
        });
    }
}
