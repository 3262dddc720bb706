package dev.quantflow.actors.api;

/** Why the engine could not (or could no longer) serve a request; the API layer maps kind to a status. */
public final class EngineException extends RuntimeException {
    public enum Kind {
        /** The request is invalid (e.g. a token id outside the vocabulary): HTTP 400 / INVALID_ARGUMENT. */
        INVALID_REQUEST,
        /** The prompt has more tokens than the context (or the KV cache) holds: HTTP 400 context_length_exceeded / INVALID_ARGUMENT. */
        CONTEXT_LENGTH_EXCEEDED,
        /** The waiting queue is full: HTTP 429 / RESOURCE_EXHAUSTED. */
        OVERLOADED,
        /** Draining or degraded: HTTP 503 / UNAVAILABLE. */
        UNAVAILABLE,
        /** A compute failure hit this request while it was in flight: HTTP 500 / INTERNAL. */
        INTERNAL
    }

    private final Kind kind;

    public EngineException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
