package dev.quantflow.actors.stage;

/**
 * What a stage worker reports of each step it ran, in its own JVM (a stage node's /metrics): the
 * compute time, the time the step's activations took from the sender's tell to this stage taking
 * them up (serialization, transfer, queueing behind earlier steps; across hosts also the clocks'
 * offset), and the activation bytes received and sent (logits, for the last stage).
 */
@FunctionalInterface
public interface StepObserver {
    StepObserver NONE = (stage, computeNanos, hopNanos, bytesReceived, bytesSent) -> {};

    void stepRan(int stage, long computeNanos, long hopNanos, long bytesReceived, long bytesSent);
}
