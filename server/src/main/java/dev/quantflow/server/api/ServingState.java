package dev.quantflow.server.api;

import dev.quantflow.actors.api.InferenceEngine;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Whether this server takes requests: ready once the start-up generation passed, and no longer once
 * draining began or while the engine reports itself degraded. Also counts the response streams
 * still being written, so a drain waits for the last bytes to reach the clients, not only for the
 * engine to finish.
 */
public final class ServingState {
    private final InferenceEngine engine;
    private final AtomicBoolean warmedUp = new AtomicBoolean();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final List<CompletableFuture<Void>> idleWaiters = new ArrayList<>();
    private final SharedKillSwitch drainDeadline = KillSwitches.shared("drain-deadline");
    private final ApiException drainCut = ApiError.of(ApiError.Kind.UNAVAILABLE, "the server is shutting down; this response ends here (drain timeout)")
            .withCode("draining").exception();
    private int streaming;

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

    /**
     * The events of a response, failed with UNAVAILABLE when the drain deadline passes: placed
     * before the protocol's error handling, so that the client gets an error event and a clean
     * end (SSE) or the status (gRPC) instead of a connection reset.
     */
    public <T> Flow<T, T, NotUsed> untilDrainDeadline() {
        return Flow.<T>create().via(drainDeadline.flow());
    }

    /** Ends every response still open (see {@link #untilDrainDeadline()}), as the server closes; then {@link #streamsClosed()} completes soon. */
    public void drainDeadlinePassed() {
        drainDeadline.abort(drainCut);
    }

    /** Whether a generation ended because the drain cut it (an abort, not an error of the engine). */
    public boolean cutByDrain(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) if (c == drainCut) return true;
        return false;
    }

    /** The source, counted as an open response stream from materialization to termination. */
    public <T, M> Source<T, M> tracked(Source<T, M> responses) {
        return responses.watchTermination((m, done) -> {
            synchronized (this) {
                streaming++;
            }
            done.whenComplete((d, err) -> streamEnded());
            return m;
        });
    }

    private void streamEnded() {
        List<CompletableFuture<Void>> wake;
        synchronized (this) {
            if (--streaming > 0) return;
            wake = new ArrayList<>(idleWaiters);
            idleWaiters.clear();
        }
        wake.forEach(f -> f.complete(null));
    }

    /** Completes when no response stream is open. */
    public synchronized CompletionStage<Void> streamsClosed() {
        if (streaming == 0) return CompletableFuture.completedFuture(null);
        CompletableFuture<Void> f = new CompletableFuture<>();
        idleWaiters.add(f);
        return f;
    }
}
