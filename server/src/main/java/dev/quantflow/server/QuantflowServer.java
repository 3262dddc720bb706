package dev.quantflow.server;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.quantflow.actors.cluster.ClusterNode;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.InferenceEngine;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.server.api.Generations;
import dev.quantflow.server.api.PromptBytes;
import dev.quantflow.server.api.ServedModel;
import dev.quantflow.server.api.ServingState;
import dev.quantflow.server.auth.ApiKeys;
import dev.quantflow.server.grpc.GenerationGrpcService;
import dev.quantflow.server.grpc.GrpcHandlers;
import dev.quantflow.server.grpc.HealthGrpcService;
import dev.quantflow.server.http.ClientConnections;
import dev.quantflow.server.http.ConnectionGuard;
import dev.quantflow.server.http.Cors;
import dev.quantflow.server.http.HttpEdge;
import dev.quantflow.server.http.JsonParsingErrorHandler;
import dev.quantflow.server.http.OpenAiHttp;
import dev.quantflow.server.metrics.ServerMetrics;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The serving process around an engine: the HTTP API (OpenAI routes, metrics, health) and gRPC
 * (generation, health, reflection) on the HTTP port over h2c, gRPC also on its own port; a warm-up
 * generation before readiness; and drain: readiness off, new requests refused with 503, in-flight
 * ones finishing within the drain timeout, then everything closed. The server owns the engine.
 */
public final class QuantflowServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QuantflowServer.class);
    private static final Duration UNBIND_DEADLINE = Duration.ofSeconds(3);
    /** After the last response stream ended, its final bytes may still sit in Pekko's connection stage: let them leave before closing. */
    private static final Duration LINGER = Duration.ofMillis(500);

    private final InferenceEngine engine;
    private final ServerSettings settings;
    private final ActorSystem<Void> system;
    private final ServerMetrics metrics;
    private final ServingState state;
    private final ServerBinding httpBinding;
    private final Optional<ServerBinding> grpcBinding;
    private final Optional<ServerBinding> adminBinding;
    private final CompletableFuture<Done> terminated = new CompletableFuture<>();

    private QuantflowServer(InferenceEngine engine, ServerSettings settings, ActorSystem<Void> system, ServerMetrics metrics, ServingState state,
                            ServerBinding httpBinding, Optional<ServerBinding> grpcBinding, Optional<ServerBinding> adminBinding) {
        this.engine = engine;
        this.settings = settings;
        this.system = system;
        this.metrics = metrics;
        this.state = state;
        this.httpBinding = httpBinding;
        this.grpcBinding = grpcBinding;
        this.adminBinding = adminBinding;
    }

    /** Binds the ports (blocking until bound or failed), then warms up in the background. */
    public static QuantflowServer start(InferenceEngine engine, ServerSettings settings, Config config) {
        ApiKeys keys = ApiKeys.of(settings.apiKeys(), settings.apiKeyFile());
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), ClusterNode.SYSTEM_NAME,
                pekkoConfig(settings).withFallback(ConfigFactory.parseString(ClientConnections.CONFIG)).withFallback(config));
        String modelName = settings.servedModelName().orElse(engine.modelId());
        ServerMetrics metrics = new ServerMetrics(modelName);
        try {
            if (system.settings().config().getString("pekko.actor.provider").equals("cluster")) {
                Cluster cluster = Cluster.get(system);
                metrics.clusterMembers(
                        () -> (int) java.util.stream.StreamSupport.stream(cluster.state().getMembers().spliterator(), false)
                                .filter(m -> m.status() == MemberStatus.up()).count(),
                        () -> cluster.state().getUnreachable().size());
            } else {
                metrics.clusterMembers(() -> 0, () -> 0);   // a single-JVM server is in no cluster
            }
            Materializer mat = Materializer.matFromSystem(system);
            ServingState state = new ServingState(engine);
            ServedModel model = new ServedModel(modelName, engine.contextLength(), System.currentTimeMillis() / 1000, engine.modelId());
            Generations generations = new Generations(engine, metrics, state, mat,
                    PromptBytes.of(PromptBytes.configured(config), engine.tokenizer(), engine.contextLength()));
            OpenAiHttp http = new OpenAiHttp(model, generations, engine, keys, metrics, state, settings.http(), mat);
            long grpcMaxMessage = config.getBytes("quantflow.server.grpc-max-message-size");
            Function<HttpRequest, CompletionStage<HttpResponse>> grpc = GrpcHandlers.create(
                    new GenerationGrpcService(model, generations, engine, keys, metrics, state, grpcMaxMessage), new HealthGrpcService(state),
                    metrics, grpcMaxMessage, settings.http().bodyReadTimeout(), system);
            HttpEdge edge = new HttpEdge(settings.edge(), ConnectionGuard.install(system.classicSystem(), settings.edge()), mat, metrics,
                    settings.http().retryAfterSeconds());
            Function<HttpRequest, CompletionStage<HttpResponse>> api = edge.jsonBodies(http);
            if (settings.edge().corsEnabled())
                api = Cors.around(settings.edge(), system.settings().config(), system.classicSystem(), metrics, settings.http().retryAfterSeconds(), api);
            Function<HttpRequest, CompletionStage<HttpResponse>> apiOnly = api;
            Function<HttpRequest, CompletionStage<HttpResponse>> both = edge.around(request -> isGrpc(request) ? grpc.apply(request) : apiOnly.apply(request));

            ServerBinding httpBinding = bind(system, settings.host(), settings.port(), both);
            Optional<ServerBinding> grpcBinding = Optional.empty();
            Optional<ServerBinding> adminBinding = Optional.empty();
            try {
                if (settings.grpcPort() >= 0 && settings.grpcPort() != httpBinding.localAddress().getPort())
                    grpcBinding = Optional.of(bind(system, settings.host(), settings.grpcPort(), edge.around(grpc)));
                if (settings.adminPort() >= 0)
                    adminBinding = Optional.of(bind(system, settings.host(), settings.adminPort(), edge.around(edge.adminOnly(http))));
            } catch (RuntimeException e) {
                httpBinding.unbind();
                grpcBinding.ifPresent(ServerBinding::unbind);
                throw e;
            }
            QuantflowServer server = new QuantflowServer(engine, settings, system, metrics, state, httpBinding, grpcBinding, adminBinding);
            log.info("serving {} on http://{}:{} (OpenAI API, metrics, health; gRPC over h2c){}{}; API keys {}; CORS {}", model.id(), settings.host(),
                    server.httpPort(), grpcBinding.map(b -> ", gRPC on port " + b.localAddress().getPort()).orElse(""),
                    adminBinding.map(b -> ", health and metrics also on port " + b.localAddress().getPort()).orElse(""),
                    keys.enabled() ? "required (" + keys.count() + " configured)" : "off",
                    settings.edge().corsEnabled() ? "for " + String.join(", ", settings.edge().allowedOrigins()) : "off");
            // the one warm-up on serve (quantflow.engine.warmup; ServeCommand starts the engine without its own): retried,
            // through the tokenizer, and what readiness waits for
            if (settings.warmup()) engine.loaded().thenRun(() -> server.warmUp(0));   // the ports may be bound before the model loads
            else state.markWarmedUp();
            return server;
        } catch (RuntimeException e) {
            system.terminate();
            metrics.close();
            throw e;
        }
    }

    /** Pekko HTTP's limits, derived from ours so that each is configured once (quantflow.server). */
    private static Config pekkoConfig(ServerSettings settings) {
        // Pekko's request timeout only backs up ours (body read + non-streamed generation); its idle
        // timeout only cuts a silent connection with a request in flight (the guard closes idle ones)
        Duration pekkoTimeout = settings.http().requestTimeout().plus(settings.http().bodyReadTimeout()).plusSeconds(30);
        return ConfigFactory.parseMap(Map.of(
                "pekko.http.server.request-timeout", pekkoTimeout.toSeconds() + "s",
                "pekko.http.server.idle-timeout", pekkoTimeout.plusSeconds(30).toSeconds() + "s",
                "pekko.http.server.max-connections", settings.edge().maxConnections() + ConnectionGuard.PEKKO_MARGIN,
                // Pekko's own rejections (414, 431, 400, 501, 505) in OpenAI's error shape
                "pekko.http.server.parsing.error-handler", JsonParsingErrorHandler.className(settings.edge().accessLog())));
    }

    /** gRPC paths are /package.Service/Method; anything else (e.g. /v1/... with a gRPC content type) is for the HTTP API. */
    private static boolean isGrpc(HttpRequest request) {
        if (!request.entity().getContentType().mediaType().toString().startsWith("application/grpc")) return false;
        String path = request.getUri().path();
        int slash = path.indexOf('/', 1);
        return slash > 0 && path.substring(1, slash).contains(".");
    }

    private static ServerBinding bind(ActorSystem<Void> system, String host, int port, Function<HttpRequest, CompletionStage<HttpResponse>> handler) {
        try {
            return Http.get(system).newServerAt(host, port).bind(handler::apply).toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            // Pekko says "Bind failed because of java.net.BindException: [/host:port] Address already in use": keep the reason
            String why = String.valueOf(c.getMessage()).replaceFirst("^.*BindException: (\\[[^]]*] )?", "");
            throw new IllegalStateException("cannot listen on " + host + ":" + port + ": " + why);
        }
    }

    public int httpPort() {
        return httpBinding.localAddress().getPort();
    }

    /** The separate gRPC port, or the HTTP port when gRPC is served only there. */
    public int grpcPort() {
        return grpcBinding.map(b -> b.localAddress().getPort()).orElse(httpPort());
    }

    /** The admin listener's port (health and metrics only), if one is configured. */
    public Optional<Integer> adminPort() {
        return adminBinding.map(b -> b.localAddress().getPort());
    }

    public ServingState state() {
        return state;
    }

    public ServerMetrics metrics() {
        return metrics;
    }

    public ActorSystem<Void> system() {
        return system;
    }

    /** A one-token greedy generation through the engine; readiness turns on when it finished. Retried until it passes or drain begins. */
    private void warmUp(int attempt) {
        GenerateRequest request = new GenerateRequest("warmup-" + UUID.randomUUID(), new Prompt.Text("Hello"), GenerateOptions.greedy(1));
        long t0 = System.nanoTime();
        engine.submit(request).runWith(Sink.seq(), system)
                .whenComplete((events, err) -> {
                    boolean ok = err == null && events.stream().anyMatch(e -> e instanceof TokenEvent.Finished);
                    if (ok) {
                        state.markWarmedUp();
                        log.info("warm-up generation passed in {} ms; ready", (System.nanoTime() - t0) / 1_000_000);
                    } else if (!state.draining()) {
                        log.warn("warm-up generation failed (attempt {}): {}; not ready, retrying", attempt + 1, err == null ? "no Finished event" : err.toString());
                        system.scheduler().scheduleOnce(Duration.ofSeconds(Math.min(10, 1L << Math.min(attempt, 3))), () -> warmUp(attempt + 1), system.executionContext());
                    }
                });
    }

    /**
     * Begins the drain (idempotent): readiness off and new requests refused at once; in-flight
     * requests finish within the drain timeout; then the ports close, the engine and the actor
     * system stop. Completes when all is down.
     */
    public CompletionStage<Done> drain() {
        if (!state.startDraining()) return terminated;
        log.info("draining: readiness off, new requests refused; waiting up to {} s for in-flight requests", settings.drainTimeout().toSeconds());
        engine.startDrain();
        engine.idle().thenCompose(v -> state.streamsClosed()).toCompletableFuture()
                .orTimeout(Math.max(1, settings.drainTimeout().toMillis()), TimeUnit.MILLISECONDS)
                .handle((v, err) -> err)
                .thenCompose(err -> {
                    if (err != null) log.warn("drain timeout reached with requests still in flight; ending them");
                    // each response still open (in flight past the deadline, health watches) ends with an error event
                    // or UNAVAILABLE and a clean end, not with the connection reset of the unbinding
                    state.drainDeadlinePassed();
                    return state.streamsClosed().toCompletableFuture().orTimeout(UNBIND_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                            .handle((v, e) -> Done.getInstance());
                })
                .thenCompose(d -> CompletableFuture.supplyAsync(() -> d, CompletableFuture.delayedExecutor(LINGER.toMillis(), TimeUnit.MILLISECONDS)))
                .thenCompose(d -> terminateBindings())
                .whenComplete((d, err) -> shutdown());
        return terminated;
    }

    private CompletionStage<Done> terminateBindings() {
        CompletableFuture<?> http = httpBinding.terminate(UNBIND_DEADLINE).toCompletableFuture();
        CompletableFuture<?> grpc = grpcBinding.<CompletableFuture<?>>map(b -> b.terminate(UNBIND_DEADLINE).toCompletableFuture())
                .orElse(CompletableFuture.completedFuture(null));
        CompletableFuture<?> admin = adminBinding.<CompletableFuture<?>>map(b -> b.terminate(UNBIND_DEADLINE).toCompletableFuture())
                .orElse(CompletableFuture.completedFuture(null));
        return CompletableFuture.allOf(http, grpc, admin).handle((v, err) -> Done.getInstance());
    }

    private void shutdown() {
        try {
            engine.close();
        } catch (RuntimeException e) {
            log.warn("engine close failed: {}", e.toString());
        }
        system.terminate();
        system.getWhenTerminated().whenComplete((d, err) -> {
            metrics.close();
            log.info("stopped");
            terminated.complete(Done.getInstance());
        });
    }

    public CompletionStage<Done> terminated() {
        return terminated;
    }

    /** Drains and waits for the end. */
    @Override
    public void close() {
        drain().toCompletableFuture().join();
    }
}
