package dev.quantflow.server.api;

import java.util.Optional;

/**
 * A request that cannot be served, in terms both protocols understand: the HTTP status and
 * OpenAI error type, and the gRPC status code. param names the offending field when there is one.
 */
public record ApiError(Kind kind, String message, Optional<String> param, Optional<String> code) {

    public enum Kind {
        INVALID_REQUEST(400, "invalid_request_error", io.grpc.Status.Code.INVALID_ARGUMENT),
        UNAUTHENTICATED(401, "invalid_request_error", io.grpc.Status.Code.UNAUTHENTICATED),
        FORBIDDEN(403, "invalid_request_error", io.grpc.Status.Code.PERMISSION_DENIED),
        NOT_FOUND(404, "invalid_request_error", io.grpc.Status.Code.NOT_FOUND),
        METHOD_NOT_ALLOWED(405, "invalid_request_error", io.grpc.Status.Code.UNIMPLEMENTED),
        REQUEST_TIMEOUT(408, "invalid_request_error", io.grpc.Status.Code.DEADLINE_EXCEEDED),
        TOO_LARGE(413, "invalid_request_error", io.grpc.Status.Code.RESOURCE_EXHAUSTED),
        UNSUPPORTED_MEDIA_TYPE(415, "invalid_request_error", io.grpc.Status.Code.INVALID_ARGUMENT),
        OVERLOADED(429, "rate_limit_error", io.grpc.Status.Code.RESOURCE_EXHAUSTED),
        INTERNAL(500, "server_error", io.grpc.Status.Code.INTERNAL),
        UNAVAILABLE(503, "server_error", io.grpc.Status.Code.UNAVAILABLE),
        TIMEOUT(504, "server_error", io.grpc.Status.Code.DEADLINE_EXCEEDED);

        public final int httpStatus;
        public final String openAiType;
        public final io.grpc.Status.Code grpcCode;

        Kind(int httpStatus, String openAiType, io.grpc.Status.Code grpcCode) {
            this.httpStatus = httpStatus;
            this.openAiType = openAiType;
            this.grpcCode = grpcCode;
        }
    }

    public static ApiError of(Kind kind, String message) {
        return new ApiError(kind, message, Optional.empty(), Optional.empty());
    }

    public static ApiError invalid(String param, String message) {
        return new ApiError(Kind.INVALID_REQUEST, message, Optional.of(param), Optional.empty());
    }

    public ApiError withCode(String c) {
        return new ApiError(kind, message, param, Optional.of(c));
    }

    public ApiException exception() {
        return new ApiException(this);
    }
}
