package dev.quantflow.actors.protocol;

import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a stage node's host receives from the frontend's stage directory, found through the
 * Receptionist under the key of the layer range the node was started for (StageKeys).
 */
public sealed interface StageHostCommand extends CborSerializable {
    /**
     * Load spec's layers in a new stage worker that sends its output to downstream and its events
     * to events (the scheduler); the worker's ref is answered to replyTo. A worker the host
     * already runs for that stage is stopped first.
     */
    record HostStage(StageSpec spec, StageDownstream downstream, ActorRef<StageEvent> events, ActorRef<StageHosted> replyTo)
            implements StageHostCommand {}

    /** The worker a host started for stage (its layer range), and the address of its node for logs. */
    record StageHosted(int stage, ActorRef<StageCommand> worker, String node) implements CborSerializable {}
}
