package dev.quantflow.server.grpc;

import dev.quantflow.proto.health.v1.HealthCheckRequest;
import dev.quantflow.proto.health.v1.HealthCheckResponse.ServingStatus;
import dev.quantflow.proto.health.v1.HealthCheckResponse;
import dev.quantflow.proto.health.v1.HealthPowerApi;
import dev.quantflow.proto.v1.GenerationService;
import dev.quantflow.server.api.ServingState;
import io.grpc.Status;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.grpc.GrpcServiceException;
import org.apache.pekko.grpc.javadsl.Metadata;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.javadsl.Source;

/**
 * grpc.health.v1.Health: SERVING while the server is ready (warmed up, not draining, not
 * degraded). Service "" means the server, "quantflow.v1.GenerationService" the generation service;
 * others are unknown. Watch sends the status, then every change, until the server closes (UNAVAILABLE).
 * No API key needed (probes).
 */
public final class HealthGrpcService implements HealthPowerApi {
    private static final Duration WATCH_INTERVAL = Duration.ofMillis(500);

    private final ServingState state;

    public HealthGrpcService(ServingState state) {
        this.state = state;
    }

    @Override
    public CompletionStage<HealthCheckResponse> check(HealthCheckRequest in, Metadata metadata) {
        if (!known(in.getService()))
            return CompletableFuture.failedFuture(new GrpcServiceException(Status.NOT_FOUND.withDescription("unknown service " + in.getService())));
        return CompletableFuture.completedFuture(response(status()));
    }

    @Override
    public Source<HealthCheckResponse, NotUsed> watch(HealthCheckRequest in, Metadata metadata) {
        if (!known(in.getService())) return Source.single(response(ServingStatus.SERVICE_UNKNOWN));
        return Source.tick(Duration.ZERO, WATCH_INTERVAL, "tick")
                .map(t -> status())
                .statefulMap(() -> ServingStatus.UNKNOWN,
                        (last, s) -> new Pair<>(s, s == last ? Optional.<ServingStatus>empty() : Optional.of(s)),
                        last -> Optional.empty())
                .mapConcat(o -> o.stream().toList())
                .map(HealthGrpcService::response)
                .via(state.untilDrainDeadline())
                .mapError(new PFBuilder<Throwable, Throwable>().match(Throwable.class, GrpcErrors::map).build())
                .mapMaterializedValue(c -> NotUsed.getInstance());
    }

    private static boolean known(String service) {
        return service.isEmpty() || service.equals(GenerationService.name);
    }

    private ServingStatus status() {
        return state.ready() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    }

    private static HealthCheckResponse response(ServingStatus s) {
        return HealthCheckResponse.newBuilder().setStatus(s).build();
    }
}
