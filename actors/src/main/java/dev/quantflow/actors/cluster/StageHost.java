package dev.quantflow.actors.cluster;

import dev.quantflow.actors.protocol.StageCommand;
import dev.quantflow.actors.protocol.StageHostCommand;
import dev.quantflow.actors.protocol.StageHostCommand.HostStage;
import dev.quantflow.actors.protocol.StageSpec;
import dev.quantflow.actors.stage.StageHooks;
import dev.quantflow.actors.stage.StageWorker;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.progress.Progress;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A stage node's one actor: registers with the Receptionist under the key of the layer range the
 * node was started for, and on the frontend's HostStage loads those layers in a stage worker on
 * this node's device (the frontend's spec, with this node's device and model directory). On
 * CoordinatedShutdown (SIGTERM) it deregisters, then waits until the steps already queued at its
 * workers have run, before the node leaves the cluster; a node the cluster downed logs so and exits
 * at once (exit-jvm).
 */
public final class StageHost {
    private static final DispatcherSelector COMPUTE = DispatcherSelector.fromConfig("quantflow.actors.compute-dispatcher");
    private static final Duration QUIESCE_TIMEOUT = Duration.ofSeconds(20);
    private static final Logger LOG = LoggerFactory.getLogger(StageHost.class);

    private sealed interface Internal extends NoSerializationVerificationNeeded {}

    private record Leave(CompletableFuture<Done> done) implements Internal {}

    private record WorkerQuiesced() implements Internal {}

    private final ActorContext<Object> ctx;
    private final int first, last;
    private final String device, modelDir;
    private final Progress progress;
    private final StageHooks hooks;
    private final ServiceKey<StageHostCommand> key;
    private final Map<Integer, ActorRef<StageCommand>> workers = new HashMap<>();
    private int spawned;

    private StageHost(ActorContext<Object> ctx, int first, int last, String device, String modelDir, Progress progress, StageHooks hooks) {
        this.ctx = ctx;
        this.first = first;
        this.last = last;
        this.device = device;
        this.modelDir = modelDir;
        this.progress = progress;
        this.hooks = hooks;
        this.key = StageKeys.forLayers(first, last);
    }

    /** Layers [first, last) on device; modelDir: where this node finds the model (empty: the frontend's path); hooks: this node's (its step observer). */
    public static Behavior<StageHostCommand> create(int first, int last, String device, String modelDir, Progress progress, StageHooks hooks) {
        return Behaviors.<Object>setup(ctx -> {
            StageHost host = new StageHost(ctx, first, last, device, modelDir, progress, hooks);
            ctx.getSystem().receptionist().tell(Receptionist.register(host.key, ctx.getSelf().narrow()));
            ActorRef<Object> self = ctx.getSelf();
            CoordinatedShutdown shutdown = CoordinatedShutdown.get(Adapter.toClassic(ctx.getSystem()));
            shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "quantflow-stage-leave", () -> {
                if (shutdown.getShutdownReason().filter(CoordinatedShutdown.clusterDowningReason()::equals).isPresent()) {
                    // downed (the split-brain resolver gave this node's side up, or it found itself quarantined): the frontend
                    // has failed this node's sequences already and hosts its range elsewhere; nothing queued here is wanted
                    LOG.warn("stage node for layers {}-{}: this node was downed by the cluster (cut off from the frontend's side); exiting",
                            first, last - 1);   // not ctx.getLog(): shutdown tasks run outside the actor
                    return CompletableFuture.completedFuture(Done.getInstance());
                }
                CompletableFuture<Done> done = new CompletableFuture<>();
                self.tell(new Leave(done));
                return done;
            });
            ctx.getLog().info("stage node for layers {}-{} on {}: registered as {}", first, last - 1, device, host.key.id());
            return host.serving();
        }).narrow();
    }

    private Behavior<Object> serving() {
        return Behaviors.receive(Object.class)
                .onMessage(HostStage.class, this::onHostStage)
                .onMessage(Leave.class, this::onLeave)
                .build();
    }

    private Behavior<Object> onHostStage(HostStage h) {
        LayerRange r = h.spec().range();
        if (r.first() != first || r.last() != last) {
            ctx.getLog().error("asked to host layers {}-{} but this node serves {}-{}; ignored", r.first(), r.last() - 1, first, last - 1);
            return Behaviors.same();
        }
        ActorRef<StageCommand> old = workers.remove(r.stage());
        if (old != null) ctx.stop(old);
        StageSpec s = h.spec();
        StageSpec local = new StageSpec(new LayerRange(r.stage(), first, last, device), s.numStages(), modelDir.isEmpty() ? s.modelDir() : modelDir,
                s.kvBlocks(), s.kvBlockSize(), s.maxBatchRows(), s.threads(), s.quant(), s.kvFormat(), s.wire());
        ActorRef<StageCommand> worker = ctx.spawn(StageWorker.supervised(local, hooks, progress, h.downstream(), h.events()),
                "stage-" + r.stage() + "-" + (++spawned), COMPUTE);
        workers.put(r.stage(), worker);
        ctx.getLog().info("hosting stage {} (layers {}-{}) for {} as {}", r.stage(), first, last - 1, h.replyTo().path().address(), worker.path());
        h.replyTo().tell(new StageHostCommand.StageHosted(r.stage(), worker, ctx.getSystem().address().toString()));
        return Behaviors.same();
    }

    /** Leaves the listing (the frontend stops planning steps here), then lets the steps already queued run. */
    private Behavior<Object> onLeave(Leave leave) {
        ctx.getSystem().receptionist().tell(Receptionist.deregister(key, ctx.getSelf().narrow()));
        if (workers.isEmpty()) {
            leave.done().complete(Done.getInstance());
            return Behaviors.same();
        }
        ctx.getLog().info("leaving: waiting for the steps queued at {} worker(s)", workers.size());
        for (ActorRef<StageCommand> w : workers.values())
            ctx.ask(StageCommand.Quiesced.class, w, QUIESCE_TIMEOUT, StageCommand.Quiesce::new, (reply, error) -> new WorkerQuiesced());
        int[] left = {workers.size()};
        return Behaviors.receive(Object.class)
                .onMessage(WorkerQuiesced.class, q -> {
                    if (--left[0] == 0) leave.done().complete(Done.getInstance());
                    return Behaviors.same();
                })
                .onMessage(HostStage.class, h -> Behaviors.same())   // leaving: no new work
                .build();
    }
}
