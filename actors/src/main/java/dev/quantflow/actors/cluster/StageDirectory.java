package dev.quantflow.actors.cluster;

import dev.quantflow.actors.protocol.SamplerCommand;
import dev.quantflow.actors.protocol.SchedulerCommand;
import dev.quantflow.actors.protocol.StageCommand;
import dev.quantflow.actors.protocol.StageDownstream;
import dev.quantflow.actors.protocol.StageEvent;
import dev.quantflow.actors.protocol.StageHostCommand;
import dev.quantflow.actors.protocol.StageHostCommand.StageHosted;
import dev.quantflow.actors.protocol.StageSpec;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * The cluster frontend's view of its stages: for each layer range of the plan it follows the
 * Receptionist's listing of stage nodes registered for that range, asks one of them to host the
 * range (last stage first, since each worker needs the ref of the one after it) and tells the
 * scheduler the worker's ref. A worker is lost when its node becomes unreachable, leaves or is
 * removed, or the worker stops: the scheduler hears StageLost at once (its sequences fail), and
 * the range is hosted again on the next live node listed for it, the stage before it rewired.
 */
public final class StageDirectory {
    private sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Listed(Receptionist.Listing listing) implements Command {}

    private record Hosted(StageHosted hosted) implements Command {}

    private record WorkerGone(int stage, ActorRef<StageCommand> worker) implements Command {}

    private record Membership(ClusterEvent.ClusterDomainEvent event) implements Command {}

    private final ActorContext<Command> ctx;
    private final List<StageSpec> specs;
    private final ActorRef<SamplerCommand> sampler;
    private final ActorRef<StageEvent> events;
    private final ActorRef<SchedulerCommand> scheduler;
    private final ActorRef<StageHosted> hostedTo;
    private final List<ServiceKey<StageHostCommand>> keys = new ArrayList<>();
    private final List<Set<ActorRef<StageHostCommand>>> listed = new ArrayList<>();
    private final List<ActorRef<StageHostCommand>> host = new ArrayList<>();   // asked to host stage k (null: none yet)
    private final List<ActorRef<StageCommand>> worker = new ArrayList<>();      // stage k's worker once hosted
    private final Set<Address> unreachable = new HashSet<>();
    private final Set<Address> gone = new HashSet<>();   // leaving, downed or removed: never asked to host again (until it joins anew)

    private StageDirectory(ActorContext<Command> ctx, List<StageSpec> specs, ActorRef<SamplerCommand> sampler, ActorRef<StageEvent> events,
                           ActorRef<SchedulerCommand> scheduler) {
        this.ctx = ctx;
        this.specs = List.copyOf(specs);
        this.sampler = sampler;
        this.events = events;
        this.scheduler = scheduler;
        this.hostedTo = ctx.messageAdapter(StageHosted.class, Hosted::new);
        for (StageSpec s : specs) {
            keys.add(StageKeys.forLayers(s.range().first(), s.range().last()));
            listed.add(Set.of());
            host.add(null);
            worker.add(null);
        }
    }

    /** specs: one per stage, in pipeline order; the workers report to events and the last one sends logits to sampler. */
    public static Behavior<?> create(List<StageSpec> specs, ActorRef<SamplerCommand> sampler, ActorRef<StageEvent> events, ActorRef<SchedulerCommand> scheduler) {
        return Behaviors.<Command>setup(ctx -> {
            StageDirectory d = new StageDirectory(ctx, specs, sampler, events, scheduler);
            // one adapter per message class (a second would replace the first): the listing's key tells the stage
            ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class, Listed::new);
            for (int k = 0; k < specs.size(); k++) {
                ctx.getSystem().receptionist().tell(Receptionist.subscribe(d.keys.get(k), listings));
                ctx.getLog().info("waiting for a stage node for layers {}-{} (quantflow stage --layers {}-{}; key {})", specs.get(k).range().first(),
                        specs.get(k).range().last() - 1, specs.get(k).range().first(), specs.get(k).range().last() - 1, d.keys.get(k).id());
            }
            Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(
                    ctx.messageAdapter(ClusterEvent.ClusterDomainEvent.class, Membership::new), ClusterEvent.ClusterDomainEvent.class));
            return d.behavior();
        });
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(Listed.class, this::onListed)
                .onMessage(Hosted.class, h -> onHosted(h.hosted()))
                .onMessage(WorkerGone.class, g -> {
                    if (g.worker().equals(worker.get(g.stage()))) lose(g.stage(), "its stage worker " + g.worker().path() + " stopped");
                    attachWhatCan();
                    return Behaviors.same();
                })
                .onMessage(Membership.class, m -> onMembership(m.event()))
                .build();
    }

    private Behavior<Command> onListed(Listed l) {
        for (int k = 0; k < keys.size(); k++) {
            if (!l.listing().isForKey(keys.get(k))) continue;
            Set<ActorRef<StageHostCommand>> live = l.listing().getServiceInstances(keys.get(k));
            listed.set(k, Set.copyOf(live));
            ActorRef<StageHostCommand> h = host.get(k);
            if (h != null && !live.contains(h)) lose(k, "its stage node " + h.path().address() + " is no longer listed (left or unreachable)");
        }
        attachWhatCan();
        return Behaviors.same();
    }

    private Behavior<Command> onMembership(ClusterEvent.ClusterDomainEvent event) {
        switch (event) {
            case ClusterEvent.UnreachableMember u -> {
                unreachable.add(u.member().address());
                loseOn(u.member().address(), "its stage node " + u.member().address() + " is unreachable (failure detector)");
            }
            case ClusterEvent.ReachableMember r -> unreachable.remove(r.member().address());
            case ClusterEvent.MemberJoined m -> gone.remove(m.member().address());   // the same host:port started again
            case ClusterEvent.MemberLeft m -> goneOn(m.member().address(), "is leaving the cluster");
            case ClusterEvent.MemberExited m -> goneOn(m.member().address(), "left the cluster");
            case ClusterEvent.MemberDowned m -> goneOn(m.member().address(), "was downed");
            case ClusterEvent.MemberRemoved m -> {
                unreachable.remove(m.member().address());
                goneOn(m.member().address(), "was removed from the cluster");
            }
            default -> {}
        }
        attachWhatCan();
        return Behaviors.same();
    }

    private void goneOn(Address node, String what) {
        gone.add(node);
        loseOn(node, "its stage node " + node + " " + what);
    }

    private void loseOn(Address node, String reason) {
        for (int k = 0; k < specs.size(); k++) {
            ActorRef<StageHostCommand> h = host.get(k);
            if (h != null && h.path().address().equals(node)) lose(k, reason);
        }
    }

    private void lose(int k, String reason) {
        ActorRef<StageCommand> w = worker.get(k);
        if (w != null) ctx.unwatch(w);
        host.set(k, null);
        worker.set(k, null);
        scheduler.tell(new SchedulerCommand.StageLost(k, reason));
    }

    /** Hosts every range that has no host, a live listed node and (but for the last stage) a worker after it to send to. */
    private void attachWhatCan() {
        for (int k = specs.size() - 1; k >= 0; k--) {
            if (host.get(k) != null) continue;
            StageDownstream next = k == specs.size() - 1 ? new StageDownstream.ToSampler(sampler)
                    : worker.get(k + 1) == null ? null : new StageDownstream.NextStage(worker.get(k + 1));
            if (next == null) continue;
            ActorRef<StageHostCommand> h = listed.get(k).stream()
                    .filter(c -> !unreachable.contains(c.path().address()) && !gone.contains(c.path().address()))
                    .min(Comparator.comparing(c -> c.path().address().toString()))
                    .orElse(null);
            if (h == null) continue;
            host.set(k, h);
            h.tell(new StageHostCommand.HostStage(specs.get(k), next, events, hostedTo));
        }
    }

    private Behavior<Command> onHosted(StageHosted hosted) {
        int k = hosted.stage();
        ActorRef<StageHostCommand> h = host.get(k);
        // an answer from a node given up on since (lost, or asked again elsewhere) is stale
        if (h == null || worker.get(k) != null || !h.path().address().equals(hosted.worker().path().address())) return Behaviors.same();
        worker.set(k, hosted.worker());
        ctx.watchWith(hosted.worker(), new WorkerGone(k, hosted.worker()));
        ctx.getLog().info("stage {} (layers {}-{}) is hosted on {}", k, specs.get(k).range().first(), specs.get(k).range().last() - 1, hosted.node());
        scheduler.tell(new SchedulerCommand.StageAttached(k, hosted.worker()));
        if (k > 0 && worker.get(k - 1) != null) worker.get(k - 1).tell(new StageCommand.Rewire(new StageDownstream.NextStage(hosted.worker())));
        attachWhatCan();
        return Behaviors.same();
    }
}
