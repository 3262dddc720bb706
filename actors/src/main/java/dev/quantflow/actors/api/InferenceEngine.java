package dev.quantflow.actors.api;

import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The in-process API of the actor pipeline, used by the HTTP and gRPC layers. submit never blocks;
 * an overloaded, draining or invalid request fails its Source with an EngineException before any
 * Delta. Cancelling the Source (client gone) cancels the sequence within one scheduler step.
 */
public interface InferenceEngine extends AutoCloseable {
    Source<TokenEvent, NotUsed> submit(GenerateRequest request);

    /** Cancels a request by id (e.g. gRPC Abort); true if it was known and still running or waiting. */
    CompletionStage<Boolean> cancel(String requestId);

    CompletionStage<EngineSnapshot> snapshot();

    /**
     * A chat prompt's token ids as submit encodes them (the model's chat template, as the tokenizer
     * pool renders it); addSpecialTokens adds the tokenizer's BOS on top (vLLM's /tokenize). Throws
     * an EngineException: INVALID_REQUEST when the template refuses the messages, UNAVAILABLE while
     * the model is loading.
     */
    int[] encodeChat(Prompt.Chat chat, boolean addSpecialTokens);

    /** ready: has served (a warm-up generation passed); degraded: a stage is restarting. */
    Health health();

    /** Stops admitting new requests (they fail UNAVAILABLE); in-flight ones continue. */
    void startDrain();

    /** Completes when no request is waiting or running. */
    CompletionStage<Void> idle();

    /** The served model's id (its directory name or configured name), its tokenizer, and context length. */
    String modelId();

    Tokenizer tokenizer();

    int contextLength();

    /** Completes once the model is loaded (a server binds its ports, health probes included, before that). */
    default CompletionStage<Void> loaded() {
        return CompletableFuture.completedFuture(null);
    }

    record Health(boolean ready, boolean degraded, boolean draining) {}

    @Override
    void close();
}
