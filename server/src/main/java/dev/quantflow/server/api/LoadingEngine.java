package dev.quantflow.server.api;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Stands for an engine that is still loading, so the server can bind its ports (liveness answers,
 * readiness says 503) before a big model's weights are in: what the server needs at bind time (id,
 * context length, tokenizer) is known from the model directory; requests before the load finished
 * are refused as unavailable; afterwards everything goes to the loaded engine. A drain or close
 * during the load is applied to the engine when it arrives.
 */
public final class LoadingEngine implements InferenceEngine {
    private final String modelId;
    private final int contextLength;
    private final Tokenizer tokenizer;
    private final CompletableFuture<Void> loaded = new CompletableFuture<>();
    private volatile InferenceEngine engine;
    private boolean draining, closed;

    public LoadingEngine(String modelId, int contextLength, Tokenizer tokenizer) {
        this.modelId = modelId;
        this.contextLength = contextLength;
        this.tokenizer = tokenizer;
    }

    /** The load finished: from now on everything goes to engine (closed at once if the server already stopped). */
    public void loaded(InferenceEngine e) {
        boolean close, drain;
        synchronized (this) {
            engine = e;
            close = closed;
            drain = draining;
        }
        if (close) e.close();
        else if (drain) e.startDrain();
        loaded.complete(null);
    }

    @Override
    public CompletionStage<Void> loaded() {
        return loaded;
    }

    @Override
    public Source<TokenEvent, NotUsed> submit(GenerateRequest request) {
        InferenceEngine e = engine;
        if (e == null) return Source.failed(new EngineException(EngineException.Kind.UNAVAILABLE, "the model is still loading; retry when /health/ready says ready"));
        return e.submit(request);
    }

    @Override
    public CompletionStage<Boolean> cancel(String requestId) {
        InferenceEngine e = engine;
        return e == null ? CompletableFuture.completedFuture(false) : e.cancel(requestId);
    }

    @Override
    public CompletionStage<EngineSnapshot> snapshot() {
        InferenceEngine e = engine;
        return e == null ? CompletableFuture.failedFuture(new IllegalStateException("the model is still loading")) : e.snapshot();
    }

    @Override
    public int[] encodeChat(Prompt.Chat chat, boolean addSpecialTokens) {
        InferenceEngine e = engine;
        if (e == null) throw new EngineException(EngineException.Kind.UNAVAILABLE, "the model is still loading; retry when /health/ready says ready");
        return e.encodeChat(chat, addSpecialTokens);
    }

    @Override
    public Health health() {
        InferenceEngine e = engine;
        return e == null ? new Health(false, false, draining()) : e.health();
    }

    private synchronized boolean draining() {
        return draining;
    }

    @Override
    public void startDrain() {
        InferenceEngine e;
        synchronized (this) {
            draining = true;
            e = engine;
        }
        if (e != null) e.startDrain();
    }

    @Override
    public CompletionStage<Void> idle() {
        InferenceEngine e = engine;
        return e == null ? CompletableFuture.completedFuture(null) : e.idle();
    }

    @Override
    public String modelId() {
        return modelId;
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int contextLength() {
        return contextLength;
    }

    @Override
    public void close() {
        InferenceEngine e;
        synchronized (this) {
            closed = true;
            e = engine;
        }
        if (e != null) e.close();
    }
}
