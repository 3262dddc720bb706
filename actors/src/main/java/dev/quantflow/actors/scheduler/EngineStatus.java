package dev.quantflow.actors.scheduler;

/**
 * The health flags the API reads without asking an actor: ready is set by the engine after its
 * warm-up, degraded and draining by the scheduler. Single writer per flag; readers only read.
 */
public final class EngineStatus {
    private volatile boolean ready, degraded, draining;

    public boolean ready() { return ready; }
    public boolean degraded() { return degraded; }
    public boolean draining() { return draining; }

    public void setReady(boolean v) { ready = v; }
    public void setDegraded(boolean v) { degraded = v; }
    public void setDraining(boolean v) { draining = v; }
}
