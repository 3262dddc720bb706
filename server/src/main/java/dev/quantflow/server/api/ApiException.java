package dev.quantflow.server.api;

/** Carries an {@link ApiError} out of validation or the engine to the protocol layer. */
public final class ApiException extends RuntimeException {
    private final ApiError error;

    public ApiException(ApiError error) {
        super(error.message(), null, false, false);
        this.error = error;
    }

    public ApiError error() {
        return error;
    }
}
