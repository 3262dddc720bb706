package dev.quantflow.server.api;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.sample.ParameterException;
import dev.quantflow.server.metrics.RequestMetrics;
import dev.quantflow.server.metrics.ServerMetrics;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Starts a generation on the engine and waits for its Accepted event, so that the protocol layer
 * learns whether the request was admitted (and otherwise why not) before it commits a status. The
 * rest of the events follow as a Source; cancelling it cancels the sequence.
 */
public final class Generations {
    private final InferenceEngine engine;
    private final ServerMetrics metrics;
    private final ServingState state;
    private final Materializer mat;
    private final PromptBytes promptBytes;

    public Generations(InferenceEngine engine, ServerMetrics metrics, ServingState state, Materializer mat, PromptBytes promptBytes) {
        this.promptBytes = promptBytes;
        this.engine = engine;
        this.metrics = metrics;
        this.state = state;
        this.mat = mat;
    }

    /** An admitted request: its prompt size, and the Deltas and the Finished event still to come. */
    public record Started(TokenEvent.Accepted accepted, Source<TokenEvent, NotUsed> events) {}

    /**
     * Completes with the admitted request, or fails with an {@link ApiException} (never with anything
     * else). promptParam names the prompt's field in the client's protocol, for a prompt too long.
     */
    public CompletionStage<Started> start(GenerateRequest request, String promptParam) {
        try {
            state.checkAccepting();
            promptBytes.check(request.prompt(), promptParam);   // named as the client sent it: prompt / messages, or gRPC text / chat
            RequestMetrics rm = metrics.request(request.n());
            Source<TokenEvent, NotUsed> events = engine.submit(request)
                    .map(ev -> {
                        rm.on(ev);
                        return ev;
                    })
                    .watchTermination((nu, done) -> {
                        done.whenComplete((d, err) -> rm.ended(err != null && !state.cutByDrain(err)));
                        return nu;
                    });
            return events.prefixAndTail(1).runWith(Sink.head(), mat)
                    .thenApply(pair -> {
                        if (pair.first().isEmpty() || !(pair.first().getFirst() instanceof TokenEvent.Accepted a))
                            throw ApiError.of(ApiError.Kind.INTERNAL, "the engine did not accept or reject the request").exception();
                        return new Started(a, pair.second());
                    })
                    .exceptionally(t -> {
                        throw new CompletionException(toApiException(t, promptParam));
                    });
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(toApiException(e, promptParam));
        }
    }

    public CompletionStage<Boolean> cancel(String requestId) {
        return engine.cancel(requestId);
    }

    /** Maps an engine (or any) failure onto the error the client sees. */
    public static ApiException toApiException(Throwable t) {
        return toApiException(t, "prompt");
    }

    /** The same, naming promptParam for a prompt the engine refused (too long, or a chat template that refused the messages). */
    public static ApiException toApiException(Throwable t, String promptParam) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) t = t.getCause();
        if (t instanceof ApiException a) return a;
        if (t instanceof ParameterException p) return GenerationParams.invalid(p);
        if (t instanceof EngineException e) {
            return switch (e.kind()) {
                case INVALID_REQUEST -> ApiError.of(ApiError.Kind.INVALID_REQUEST, e.getMessage()).exception();
                case CONTEXT_LENGTH_EXCEEDED -> ApiError.invalid(promptParam, e.getMessage()).withCode("context_length_exceeded").exception();
                case OVERLOADED -> ApiError.of(ApiError.Kind.OVERLOADED, e.getMessage()).withCode("overloaded").exception();
                case UNAVAILABLE -> ApiError.of(ApiError.Kind.UNAVAILABLE, e.getMessage()).exception();
                case INTERNAL -> ApiError.of(ApiError.Kind.INTERNAL, e.getMessage()).exception();
            };
        }
        if (t instanceof TimeoutException)
            return ApiError.of(ApiError.Kind.TIMEOUT, "the request did not finish within the server's request timeout").exception();
        return ApiError.of(ApiError.Kind.INTERNAL, "internal error: " + t.getClass().getSimpleName()
                + (t.getMessage() == null ? "" : ": " + t.getMessage())).exception();
    }
}
