package dev.quantflow.server.http;

import com.typesafe.config.Config;
import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.metrics.ServerMetrics;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.http.cors.javadsl.CorsDirectives;
import org.apache.pekko.http.cors.javadsl.CorsRejection;
import org.apache.pekko.http.cors.javadsl.model.HttpOriginMatcher;
import org.apache.pekko.http.cors.javadsl.settings.CorsSettings;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.HttpOrigin;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * CORS through pekko-http-cors: preflight OPTIONS requests answered, Access-Control-Allow-Origin
 * on the responses to allowed origins, 403 for the others. The origins come from
 * quantflow.server.allowed-origins, the rest from pekko.http.cors (application.conf).
 */
public final class Cors {
    private Cors() {}

    /** Fails with a message naming the origin that is not one (checked at start-up). */
    public static void check(List<String> origins) {
        for (String o : origins) {
            if (o.equals("*")) continue;
            try {
                HttpOrigin.parse(o);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("quantflow.server.allowed-origins: not an origin (scheme://host[:port]): " + o);
            }
            if (o.endsWith("/")) throw new IllegalArgumentException("quantflow.server.allowed-origins: an origin has no path, drop the '/': " + o);
        }
    }

    public static Function<HttpRequest, CompletionStage<HttpResponse>> around(EdgeSettings settings, Config config, ActorSystem system, ServerMetrics metrics,
                                                                            long retryAfterSeconds, Function<HttpRequest, CompletionStage<HttpResponse>> inner) {
        List<String> origins = settings.allowedOrigins();
        HttpOriginMatcher matcher = origins.contains("*") ? HttpOriginMatcher.ALL
                : HttpOriginMatcher.strict(origins.stream().map(HttpOrigin::parse).toArray(HttpOrigin[]::new));
        CorsSettings cors = CorsSettings.create(config).withAllowedOrigins(matcher);
        RejectionHandler rejections = RejectionHandler.newBuilder()
                .handle(CorsRejection.class, r -> Directives.extractRequest(req -> {
                    metrics.httpRequest(Endpoint.label(req.getUri().path()), 403);
                    return Directives.complete(HttpErrors.response(new ApiError(ApiError.Kind.FORBIDDEN,
                            "CORS request refused: the origin, method or headers are not allowed", Optional.empty(), Optional.of("cors_rejected")),
                            retryAfterSeconds));
                }))
                .build();
        Route route = CorsDirectives.cors(cors, () -> Directives.handle(inner::apply)).seal(rejections, ExceptionHandler.newBuilder().build());
        var handler = route.handler(system);
        return request -> {
            try {
                return handler.apply(request);
            } catch (Exception e) {
                return CompletableFuture.failedFuture(e);
            }
        };
    }
}
