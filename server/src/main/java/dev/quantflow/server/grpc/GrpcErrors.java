package dev.quantflow.server.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.api.Generations;
import io.grpc.Status;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.function.BiConsumer;
import java.util.zip.ZipException;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.grpc.GrpcServiceException;
import org.apache.pekko.grpc.Trailers;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.http.scaladsl.model.http2.PeerClosedStreamException;
import org.apache.pekko.japi.Function;
import org.apache.pekko.stream.SubscriptionWithCancelException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The gRPC status of an {@link ApiError}: the same rule as HTTP, mapped to the status code. */
final class GrpcErrors {
    private static final Logger log = LoggerFactory.getLogger(GrpcErrors.class);

    private GrpcErrors() {}

    static GrpcServiceException of(ApiError e) {
        String description = e.param().map(p -> p + ": ").orElse("") + e.message();
        return new GrpcServiceException(Status.fromCode(e.kind().grpcCode).withDescription(description));
    }

    /** Any failure as a GrpcServiceException (already-mapped ones pass through). */
    static Throwable map(Throwable t) {
        if (t instanceof GrpcServiceException g) return g;
        Throwable c = t;
        while (c instanceof CompletionException && c.getCause() != null) c = c.getCause();
        if (c instanceof GrpcServiceException g) return g;
        for (Throwable x = c; x != null; x = x.getCause() == x ? null : x.getCause()) {
            // what Pekko gRPC fails with while it reads the request message, before our code runs
            if (x instanceof InvalidProtocolBufferException p)
                return new GrpcServiceException(Status.INVALID_ARGUMENT.withDescription("the request message is not valid protobuf: " + p.getMessage()));
            if (x instanceof ZipException)
                return new GrpcServiceException(Status.INVALID_ARGUMENT.withDescription("the request message is not valid gzip: " + x.getMessage()));
            if (x instanceof EntityStreamSizeException s)
                return new GrpcServiceException(Status.RESOURCE_EXHAUSTED.withDescription("the request message is larger than the limit of " + s.limit() + " bytes"));
        }
        return of(Generations.toApiException(c).error());
    }

    static String code(Throwable t) {
        if (t == null) return Status.Code.OK.name();
        if (cancelled(t)) return Status.Code.CANCELLED.name();
        return map(t) instanceof GrpcServiceException g ? g.status().getCode().name() : Status.Code.UNKNOWN.name();
    }

    /** The client went away (cancelled the call or reset its stream): not a failure of ours. */
    static boolean cancelled(Throwable t) {
        return t instanceof PeerClosedStreamException || t instanceof SubscriptionWithCancelException.NonFailureCancellation;
    }

    /**
     * The exception handler of the generated service handlers. Failures of our own methods arrive
     * already mapped and counted; anything else failed before our code ran (the request message
     * could not be read): mapped, logged in one line and reported to {@code uncounted}.
     */
    static Function<ActorSystem, Function<Throwable, Trailers>> handler(BiConsumer<Throwable, Status> uncounted) {
        return system -> t -> {
            Throwable c = t;
            while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null)
                c = c.getCause();
            if (c instanceof GrpcServiceException g) return new Trailers(g.status(), g.getMetadata());
            Status s = map(c) instanceof GrpcServiceException g ? g.status() : Status.INTERNAL;
            if (s.getCode() == Status.Code.INTERNAL) log.warn("gRPC request failed: {}", c.toString());
            else log.info("gRPC request refused: {} {}", s.getCode(), s.getDescription());
            uncounted.accept(c, s);
            return new Trailers(s);
        };
    }
}
