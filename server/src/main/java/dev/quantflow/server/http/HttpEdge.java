package dev.quantflow.server.http;

import dev.quantflow.server.api.ApiError;
import dev.quantflow.server.metrics.ServerMetrics;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaType;
import org.apache.pekko.http.javadsl.model.ResponseEntity;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.scaladsl.model.HttpEntity;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.util.ByteString;

/**
 * What every listener does around its endpoints: counts the request in and out of its connection
 * (for the {@link ConnectionGuard}), gives it a request id (the client's X-Request-Id when it sent a
 * usable one, else the generation's id, else a fresh one) that the response echoes, and writes its
 * access-log line when the response has been sent. Also the endpoint filters of the listeners: JSON
 * bodies only on the API, probes and metrics only on the admin listener.
 */
public final class HttpEdge {
    private static final String REQUEST_ID = "X-Request-Id";
    private static final Set<String> JSON_POSTS = Set.of("/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize");
    private static final Set<String> ADMIN_PATHS = Set.of("/health", "/health/live", "/health/ready", "/metrics");

    private final EdgeSettings settings;
    private final ConnectionGuard guard;
    private final Materializer mat;
    private final ServerMetrics metrics;
    private final long retryAfterSeconds;

    public HttpEdge(EdgeSettings settings, ConnectionGuard guard, Materializer mat, ServerMetrics metrics, long retryAfterSeconds) {
        this.settings = settings;
        this.guard = guard;
        this.mat = mat;
        this.metrics = metrics;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public Function<HttpRequest, CompletionStage<HttpResponse>> around(Function<HttpRequest, CompletionStage<HttpResponse>> inner) {
        return request -> {
            guard.requestStarted(request);
            AccessLog.Entry entry = new AccessLog.Entry();
            Optional<String> clientId = request.getHeader(REQUEST_ID).map(HttpHeader::value).filter(HttpEdge::usableId);
            CompletionStage<HttpResponse> response;
            try {
                response = inner.apply(request.addAttribute(AccessLog.ENTRY, entry));
            } catch (RuntimeException e) {
                response = CompletableFuture.failedFuture(e);
            }
            return response.handle((r, err) -> {
                if (err != null) {
                    ended(request, entry, clientId.orElseGet(HttpEdge::freshId), 500);
                    throw err instanceof RuntimeException re ? re : new CompletionException(err);
                }
                String id = clientId.or(() -> r.getHeader(REQUEST_ID).map(HttpHeader::value)).orElseGet(HttpEdge::freshId);
                HttpResponse out = r.removeHeader(REQUEST_ID).addHeader(RawHeader.create(REQUEST_ID, id));
                int status = r.status().intValue();
                return out.withEntity(onEnd(out.entity(), () -> ended(request, entry, id, status)));
            });
        };
    }

    private void ended(HttpRequest request, AccessLog.Entry entry, String id, int status) {
        guard.requestEnded(request);
        if (settings.accessLog())
            AccessLog.write(entry, id, request.method().value(), request.getUri().path(), status, client(request));
    }

    /** The entity, calling whenSent once when its last byte has left (or its stream failed). */
    private static ResponseEntity onEnd(ResponseEntity entity, Runnable whenSent) {
        AtomicBoolean once = new AtomicBoolean();
        Runnable end = () -> {
            if (once.compareAndSet(false, true)) whenSent.run();
        };
        if (entity.isStrict()) {
            end.run();
            return entity;
        }
        // chunks, not bytes: a gRPC response carries its status in the last chunk's trailer
        if (entity instanceof HttpEntity.Chunked c)
            return new HttpEntity.Chunked(c.contentType(), c.chunks().asJava().watchTermination((m, done) -> {
                done.whenComplete((d, e) -> end.run());
                return m;
            }).asScala());
        Flow<ByteString, ByteString, Object> watched = Flow.<ByteString>create().watchTermination((m, done) -> {
            done.whenComplete((d, e) -> end.run());
            return (Object) m;
        });
        return ((org.apache.pekko.http.scaladsl.model.ResponseEntity) entity).transformDataBytes(watched.asScala());
    }

    private static String client(HttpRequest request) {
        return request.getAttribute(AttributeKeys.remoteAddress)
                .flatMap(r -> r.getAddress().map(a -> a.getHostAddress() + ":" + r.getPort())).orElse("-");
    }

    /** A client's id goes into logs and headers: printable ASCII without spaces, at most 200 characters. */
    static boolean usableId(String s) {
        return !s.isEmpty() && s.length() <= 200 && s.chars().allMatch(ch -> ch > 0x20 && ch < 0x7f);
    }

    private static String freshId() {
        return "req-" + UUID.randomUUID().toString().replace("-", "");
    }

    /**
     * The API's JSON bodies: 415 for a body declared as something else. A request without a
     * Content-Type (which Pekko, per RFC 9110, sees as application/octet-stream) is read as JSON, as
     * OpenAI's and vLLM's servers do, so that `curl -d` without -H keeps working.
     */
    public Function<HttpRequest, CompletionStage<HttpResponse>> jsonBodies(Function<HttpRequest, CompletionStage<HttpResponse>> inner) {
        return request -> {
            if (!request.method().equals(HttpMethods.POST) || !JSON_POSTS.contains(request.getUri().path())) return inner.apply(request);
            var ct = request.entity().getContentType();
            MediaType mt = ct.mediaType();
            String type = mt.mainType() + "/" + mt.subType();
            boolean json = type.equals("application/json") || mt.subType().endsWith("+json") || type.equals("application/octet-stream");
            boolean utf8 = ct.getCharsetOption().map(cs -> cs.nioCharset().name().equals("UTF-8")).orElse(true);
            if (json && utf8) return inner.apply(request);
            return refuse(request, new ApiError(ApiError.Kind.UNSUPPORTED_MEDIA_TYPE,
                    "the request body must be JSON (Content-Type: application/json, UTF-8), got " + ct, Optional.empty(),
                    Optional.of("unsupported_media_type")));
        };
    }

    /** The admin listener: probes and metrics only. */
    public Function<HttpRequest, CompletionStage<HttpResponse>> adminOnly(Function<HttpRequest, CompletionStage<HttpResponse>> inner) {
        return request -> {
            if (ADMIN_PATHS.contains(request.getUri().path())) return inner.apply(request);
            return refuse(request, new ApiError(ApiError.Kind.NOT_FOUND,
                    "the admin port serves only /health, /health/live, /health/ready and /metrics", Optional.empty(), Optional.of("unknown_url")));
        };
    }

    /** An answer given here rather than by an endpoint, counted like theirs. */
    private CompletionStage<HttpResponse> refuse(HttpRequest request, ApiError e) {
        metrics.httpRequest(Endpoint.label(request.getUri().path()), e.kind().httpStatus);
        return HttpErrors.afterBody(request, mat, HttpErrors.response(e, retryAfterSeconds));
    }
}
