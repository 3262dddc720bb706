package dev.quantflow.server.api;

import dev.quantflow.actors.api.InferenceEngine;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Whether this server takes requests: ready once the start-up generation passed, and no longer once
 * draining began or while the engine reports itself degraded.
 */
public final class ServingState {
    private final InferenceEngine engine;
    private final AtomicBoolean warmedUp = new AtomicBoolean();
    private final AtomicBoolean draining = new AtomicBoolean();

    public ServingState(InferenceEngine engine) {
        this.engine = engine;
    }

    public void markWarmedUp() {
        warmedUp.set(true);
    }

    /** True the first time only. */
    public boolean startDraining() {
        return draining.compareAndSet(false, true);
    }

    public boolean warmedUp() {
        return warmedUp.get();
    }

    public boolean draining() {
        return draining.get();
    }

    public boolean ready() {
        InferenceEngine.Health h = engine.health();
        return warmedUp.get() && !draining.get() && h.ready() && !h.degraded() && !h.draining();
    }

    /** New generation requests are refused (503 / UNAVAILABLE) while draining or degraded. */
    public void checkAccepting() {
        if (draining.get()) throw ApiError.of(ApiError.Kind.UNAVAILABLE, "the server is shutting down and takes no new requests").withCode("draining").exception();
        InferenceEngine.Health h = engine.health();
        if (h.draining()) throw ApiError.of(ApiError.Kind.UNAVAILABLE, "the engine is draining and takes no new requests").withCode("draining").exception();
        if (h.degraded()) throw ApiError.of(ApiError.Kind.UNAVAILABLE, "the engine is degraded (a pipeline stage is restarting); retry shortly").withCode("degraded").exception();
    }
}
