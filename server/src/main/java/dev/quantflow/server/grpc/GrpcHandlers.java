package dev.quantflow.server.grpc;

import dev.quantflow.proto.health.v1.Health;
import dev.quantflow.proto.health.v1.HealthPowerApiHandlerFactory;
import dev.quantflow.proto.v1.GenerationService;
import dev.quantflow.proto.v1.GenerationServicePowerApiHandlerFactory;
import dev.quantflow.server.metrics.ServerMetrics;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.grpc.javadsl.ServerReflection;
import org.apache.pekko.grpc.javadsl.ServiceHandler;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.RequestEntity;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * The gRPC routes: generation, health and reflection. Request messages are read within the
 * message limit (RESOURCE_EXHAUSTED above it); a message that cannot be read is INVALID_ARGUMENT
 * and counted like every other call.
 */
public final class GrpcHandlers {
    private static final Set<String> METHODS = Set.of("Generate", "Abort", "Tokenize", "ListModels");

    private GrpcHandlers() {}

    @SuppressWarnings("unchecked")
    public static Function<HttpRequest, CompletionStage<HttpResponse>> create(GenerationGrpcService generation, HealthGrpcService health,
                                                                             ServerMetrics metrics, long maxMessageBytes, Duration readTimeout,
                                                                             ActorSystem<?> system) {
        if (maxMessageBytes < 1024 || maxMessageBytes > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("quantflow.server.grpc-max-message-size must be between 1 KiB and 2 GiB, got " + maxMessageBytes);
        Materializer mat = Materializer.matFromSystem(system);
        org.apache.pekko.japi.function.Function<HttpRequest, CompletionStage<HttpResponse>> generationHandler = request -> {
            String method = lastSegment(request);
            // a label per known method only: a client must not be able to grow the metric's label set
            String label = METHODS.contains(method) ? method : "unknown";
            return GenerationServicePowerApiHandlerFactory.partial(generation, GenerationService.name, mat,
                    GrpcErrors.handler((t, status) -> metrics.grpcRequest(label, status.getCode().name())), system).apply(request);
        };
        org.apache.pekko.japi.function.Function<HttpRequest, CompletionStage<HttpResponse>> all = ServiceHandler.concatOrNotFound(
                generationHandler,
                HealthPowerApiHandlerFactory.partial(health, Health.name, mat, GrpcErrors.handler((t, status) -> {}), system),
                ServerReflection.create(List.of(GenerationService.description, Health.description), system));
        long maxEntity = maxMessageBytes + 5;  // a unary request's entity is one message and its 5-byte frame header
        return request -> {
            // reflection streams requests: only the size limit; every other method takes one message, read whole first so
            // that a refusal goes out before the stream's reset (read partially, Pekko may reset it first: the client saw CANCELLED)
            if (request.getUri().path().startsWith("/grpc.reflection."))
                return apply(all, request.withEntity((RequestEntity) request.entity().withSizeLimit(maxEntity)));
            return request.entity().withSizeLimit(maxEntity).toStrict(readTimeout.toMillis(), mat)
                    .<RequestEntity>handle((strict, err) -> {
                        if (err != null) return HttpEntities.create(request.entity().getContentType(), Source.failed(err));
                        try {
                            return inflated(request, strict, maxMessageBytes);
                        } catch (Exception e) {
                            return HttpEntities.create(request.entity().getContentType(), Source.failed(e));
                        }
                    })
                    .thenCompose(entity -> apply(all, request.withEntity(entity)));
        };
    }

    private static CompletionStage<HttpResponse> apply(org.apache.pekko.japi.function.Function<HttpRequest, CompletionStage<HttpResponse>> handler, HttpRequest request) {
        try {
            return handler.apply(request);
        } catch (Exception e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * A gzip-compressed message, decompressed here within the message limit: Pekko gRPC would inflate
     * it whole, so a few KiB of zeros could take gigabytes. Passed on as an uncompressed frame.
     */
    static RequestEntity inflated(HttpRequest request, HttpEntity.Strict strict, long maxMessageBytes) throws IOException {
        ByteString data = strict.getData();
        if (data.size() < 5 || data.apply(0) != 1) return strict;
        if (data.slice(1, 5).asByteBuffer().getInt() != data.size() - 5) return strict;  // not one whole frame: Pekko's decoder refuses it
        boolean gzip = request.getHeader("grpc-encoding").map(h -> h.value().trim().equalsIgnoreCase("gzip")).orElse(false);
        if (!gzip) return strict;  // an encoding Pekko does not know: it answers that itself
        byte[] message;
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(data.drop(5).toArray()))) {
            message = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxMessageBytes + 1));
        } catch (IOException e) {
            throw new ZipException(e.getMessage());  // truncated or corrupt: the client's fault
        }
        if (message.length > maxMessageBytes) throw new EntityStreamSizeException(maxMessageBytes, scala.Option.empty());
        ByteString frame = ByteString.fromArray(new byte[] {0}).concat(ByteString.fromArray(ByteBuffer.allocate(4).putInt(message.length).array()))
                .concat(ByteString.fromArrayUnsafe(message));
        return HttpEntities.create(strict.getContentType(), frame);
    }

    private static String lastSegment(HttpRequest request) {
        String last = "";
        for (String s : request.getUri().pathSegments()) last = s;
        return last;
    }
}
