package dev.quantflow.server.grpc;

import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.Generations;
import io.grpc.Status;
import org.apache.pekko.grpc.GrpcServiceException;

/** The gRPC status of an {@link ApiError}: the same rule as HTTP, mapped to the status code. */
final class GrpcErrors {
    private GrpcErrors() {}

    static GrpcServiceException of(ApiError e) {
        String description = e.param().map(p -> p + ": ").orElse("") + e.message();
        return new GrpcServiceException(Status.fromCode(e.kind().grpcCode).withDescription(description));
    }

    /** Any failure as a GrpcServiceException (already-mapped ones pass through). */
    static Throwable map(Throwable t) {
        if (t instanceof GrpcServiceException g) return g;
        Throwable c = t;
        while (c instanceof java.util.concurrent.CompletionException && c.getCause() != null) c = c.getCause();
        if (c instanceof GrpcServiceException g) return g;
        return of(Generations.toApiException(c).error());
    }

    static String code(Throwable t) {
        if (t == null) return Status.Code.OK.name();
        return map(t) instanceof GrpcServiceException g ? g.status().getCode().name() : Status.Code.UNKNOWN.name();
    }
}
